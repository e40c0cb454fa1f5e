//! A small argument reader: positional values, `--name value` / `--name=value` options (some
//! repeatable), and flags. Unknown options are errors, never ignored.

/// The arguments of one command.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub(crate) positional: Vec<String>,
    values: Vec<(&'static str, String)>,
    flags: Vec<&'static str>,
}

impl Args {
    /// Reads `args`: `with_value` names the options that take a value, `flags` those that do not.
    /// `-` alone is a positional value (standard input).
    pub(crate) fn parse(
        args: &[String],
        with_value: &[&'static str],
        flags: &[&'static str],
    ) -> Result<Args, String> {
        let mut parsed = Args::default();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if arg == "--" {
                // Everything after `--` is positional.
                parsed.positional.extend(iter.by_ref().cloned());
                break;
            }
            if arg == "-" || !arg.starts_with('-') {
                parsed.positional.push(arg.clone());
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            if let Some(flag) = flags.iter().find(|f| **f == name) {
                if inline.is_some() {
                    return Err(format!("{name} takes no value"));
                }
                parsed.flags.push(flag);
            } else if let Some(option) = with_value.iter().find(|o| **o == name) {
                let value = match inline {
                    Some(value) => value,
                    // An option where a value should be is a missing value, not a value.
                    None => iter
                        .next()
                        .filter(|next| !next.starts_with("--"))
                        .cloned()
                        .ok_or_else(|| format!("{name} needs a value"))?,
                };
                parsed.values.push((option, value));
            } else {
                return Err(format!("unknown option {name}"));
            }
        }
        Ok(parsed)
    }

    /// The last value of an option.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable option, in order.
    pub(crate) fn values(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a flag was given.
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }
}
