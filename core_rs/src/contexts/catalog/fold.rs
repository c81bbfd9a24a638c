//! Names as the name filter and the name order see them: "Lörem", "LOREM" and "lorem" are one.

use std::borrow::Cow;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// `name` with Unicode's full case folding, then decomposed (NFD) and stripped of combining
/// marks (General Category M), so that case and accents make no difference. Folding works
/// character by character, so a name that starts with a prefix folds to one that starts with the
/// folded prefix. ASCII, most names, only needs lowering (and nothing when already lower case).
pub fn fold(name: &str) -> Cow<'_, str> {
    if name.is_ascii() {
        if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
            return Cow::Owned(name.to_ascii_lowercase());
        }
        return Cow::Borrowed(name);
    }
    let folded = caseless::default_case_fold_str(name);
    Cow::Owned(folded.nfd().filter(|&c| !is_combining_mark(c)).collect())
}

#[cfg(test)]
mod tests {
    use super::fold;
    use proptest::prelude::*;

    #[test]
    fn case_and_accents_make_no_difference() {
        for (name, folded) in [
            ("Lorem ipsum", "lorem ipsum"),
            ("Lörem", "lorem"),
            ("LÖREM", "lorem"),
            ("Lo\u{308}rem", "lorem"),
            ("Straße", "strasse"),
            ("STRAẞE", "strasse"),
            ("İstanbul", "istanbul"),
            ("ﬁne", "fine"),
            ("ΣΊΣΥΦΟΣ", "σισυφοσ"),
            ("σίσυφος", "σισυφοσ"),
            ("Crème brûlée", "creme brulee"),
            ("", ""),
            ("plain", "plain"),
        ] {
            assert_eq!(fold(name), folded, "{name}");
        }
    }

    proptest! {
        /// What makes a folded prefix a range of the folded name order.
        #[test]
        fn folding_keeps_prefixes(name in "\\PC{0,12}", cut in 0..13usize) {
            let cut = name.char_indices().map(|(at, _)| at).nth(cut).unwrap_or(name.len());
            let folded = fold(&name);
            prop_assert!(folded.starts_with(&*fold(&name[..cut])));
            prop_assert_eq!(fold(&folded), folded.clone());
        }
    }
}
