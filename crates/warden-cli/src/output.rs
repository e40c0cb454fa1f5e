//! Output manners: colour only on a terminal (and never with `NO_COLOR`), errors on stderr.

use std::io::IsTerminal;

use crate::exit;

/// How to write to stdout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    colour: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub(crate) fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: std::io::stdout().is_terminal() && !no_color,
        }
    }

    pub(crate) fn red(self, text: &str) -> String {
        self.paint(text, "31")
    }

    pub(crate) fn green(self, text: &str) -> String {
        self.paint(text, "32")
    }

    pub(crate) fn yellow(self, text: &str) -> String {
        self.paint(text, "33")
    }

    pub(crate) fn dim(self, text: &str) -> String {
        self.paint(text, "2")
    }

    pub(crate) fn bold(self, text: &str) -> String {
        self.paint(text, "1")
    }

    fn paint(self, text: &str, code: &str) -> String {
        if self.colour {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Reports a usage error on stderr, with the command's help, and gives its exit code.
pub(crate) fn usage(message: &str, help: &str) -> u8 {
    eprintln!("warden: {message}\n\n{help}");
    exit::USAGE
}

/// Reports input that cannot be read or parsed, and gives its exit code.
pub(crate) fn unreadable(what: &str, error: impl std::fmt::Display) -> u8 {
    eprintln!("warden: {what}: {error}");
    exit::USAGE
}

/// Reads a file, or standard input for `-`.
pub(crate) fn read_input(path: &str) -> std::io::Result<String> {
    if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
}
