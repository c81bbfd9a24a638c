//! Markdown to HTML that is safe to put into a page: rendered by pulldown-cmark, then sanitized
//! by ammonia, whose allow-list keeps no script, no event handler, no style, no SVG or MathML and
//! no URL of a scheme other than those below. Done once per event, when it is applied.

use ammonia::Builder;
use pulldown_cmark::{html, Options, Parser};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

/// The URL schemes a link or image may use; relative URLs (`/pages/shipping`) pass too.
const URL_SCHEMES: [&str; 4] = ["http", "https", "mailto", "tel"];

fn cleaner() -> &'static Builder<'static> {
    static CLEANER: OnceLock<Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let mut builder = Builder::default();
        builder
            .url_schemes(HashSet::from(URL_SCHEMES))
            .link_rel(Some("noopener noreferrer nofollow"))
            .attribute_filter(|_element, attribute, value| {
                let url = matches!(attribute, "href" | "src");
                (!url || scheme_allowed(value)).then_some(Cow::Borrowed(value))
            });
        builder
    })
}

/// Whether a URL names one of URL_SCHEMES or none, read the way a lenient browser might: without
/// whitespace and control characters, and with anything before a first `:` taken for a scheme
/// (`javas\0cript:` reaches the sanitizer as `javas\u{fffd}cript:`, which a URL parser calls
/// relative; it is dropped all the same).
fn scheme_allowed(url: &str) -> bool {
    let url: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    match url.find([':', '/', '?', '#']) {
        Some(end) if url[end..].starts_with(':') => {
            URL_SCHEMES.contains(&url[..end].to_ascii_lowercase().as_str())
        }
        _ => true,
    }
}

/// The sanitized HTML of `markdown` (CommonMark with tables and strikethrough).
pub fn html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut rendered = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut rendered, Parser::new_ext(markdown, options));
    cleaner().clean(&rendered).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            html("# Shipping\n\nWe ship *fast*.\n"),
            "<h1>Shipping</h1>\n<p>We ship <em>fast</em>.</p>\n"
        );
        assert_eq!(
            html("[returns](/pages/returns)"),
            "<p><a href=\"/pages/returns\" rel=\"noopener noreferrer nofollow\">returns</a></p>\n"
        );
    }

    #[test]
    fn scheme_like_prefixes_are_checked_however_they_are_spelled() {
        assert!(
            scheme_allowed("/pages/x") && scheme_allowed("https://x") && scheme_allowed("a/b:c")
        );
        assert!(scheme_allowed("MAILTO:x@example.com") && scheme_allowed("#top"));
        assert!(!scheme_allowed("java\tscript:x") && !scheme_allowed("javas\u{fffd}cript:x"));
        assert!(!scheme_allowed(" data:x") && !scheme_allowed("x:y"));
    }

    #[test]
    fn scripts_handlers_and_foreign_schemes_are_dropped() {
        let out = html(
            "<script>alert(1)</script><img src=x onerror=alert(1)>\n\n\
             [a](javascript:alert(1)) [b](data:text/html,x) <svg onload=alert(1)></svg>",
        );
        assert_eq!(dangerous(&out), None, "{out}");
        assert_eq!(
            out,
            "<img src=\"x\">\n<p><a rel=\"noopener noreferrer nofollow\">a</a> \
             <a rel=\"noopener noreferrer nofollow\">b</a> </p>\n"
        );
    }

    /// The first tag of `out` that could run code: a scripting or foreign element, an event
    /// handler, a URL of a scheme that runs or embeds. Text is escaped by the sanitizer, so every
    /// `<` of its output opens a real tag.
    fn dangerous(out: &str) -> Option<String> {
        const ELEMENTS: [&str; 9] = [
            "script", "svg", "math", "iframe", "object", "embed", "style", "form", "base",
        ];
        out.to_ascii_lowercase().split('<').skip(1).find_map(|tag| {
            let tag = tag.split('>').next().unwrap_or("");
            let mut words = tag.split_whitespace();
            let name = words.next().unwrap_or("").trim_start_matches('/');
            let handler = words.any(|attribute| attribute.starts_with("on"));
            let scheme = ["javascript:", "vbscript:", "data:"]
                .iter()
                .any(|scheme| tag.contains(scheme));
            (ELEMENTS.contains(&name) || handler || scheme).then(|| tag.to_owned())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn nothing_dangerous_survives(
            parts in prop::collection::vec(prop_oneof![
                Just("<script>alert(1)</script>".to_owned()),
                Just("<scr<script>ipt>".to_owned()),
                Just("<img src=x onerror=alert(1)>".to_owned()),
                Just("<a href=\"javascript:alert(1)\">x</a>".to_owned()),
                Just("[x](JaVaScRiPt:alert(1))".to_owned()),
                Just("![x](data:image/svg+xml,<svg onload=alert(1)>)".to_owned()),
                Just("<svg><script>alert(1)</script></svg>".to_owned()),
                Just("<math><mtext><style>".to_owned()),
                Just("<iframe src=//x>".to_owned()),
                Just("<div style=\"x\" onclick=\"y\">".to_owned()),
                Just("\n\n".to_owned()),
                Just("`".to_owned()),
                Just("<".to_owned()),
                Just("\"".to_owned()),
                "[ -~]{0,12}",
                "\\PC{0,6}",
            ], 0..12)
        ) {
            let out = html(&parts.concat());
            prop_assert_eq!(dangerous(&out), None, "{}", out);
        }
    }
}
