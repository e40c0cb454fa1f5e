//! What the fake issuer's pages share: their look, and escaping for HTML and scripts.

/// The pages' look: plain, readable, no resources from elsewhere.
pub(super) const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:38rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 4px #0002}\
h1{margin-top:0}fieldset{border:1px solid #d5d9e0;border-radius:6px;margin:0 0 1rem;padding:.75rem 1rem}\
legend{font-weight:600}label{display:block;margin:.5rem 0 .2rem}label.check{display:flex;gap:.4rem;align-items:center}\
input:not([type=checkbox]),textarea,select{width:100%;box-sizing:border-box;padding:.4rem;border:1px solid #b8bfcc;border-radius:4px;font:inherit}\
button{background:#2156c4;color:#fff;border:0;border-radius:4px;padding:.6rem 1.4rem;font:inherit;cursor:pointer}\
.hint{color:#5a6275}.error{color:#a4141d;font-weight:600}code,pre{font-family:ui-monospace,monospace;font-size:.9em}\
pre{background:#f0f2f5;padding:.6rem;border-radius:4px;white-space:pre-wrap;word-break:break-all}";

/// Escapes text for HTML content and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JavaScript string literal holding `text`, safe inside a `<script>` element (JSON, with `<`
/// escaped so that no `</script>` can close it).
pub(super) fn script_string(text: &str) -> String {
    serde_json::to_string(text)
        .unwrap_or_else(|_| "\"\"".to_owned())
        .replace('<', "\\u003c")
}
