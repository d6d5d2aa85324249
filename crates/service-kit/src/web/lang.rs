//! The portals' two languages and how a request's language is chosen.
//!
//! Danish is the default: the users are Danish municipalities' staff and citizens, and a
//! browser that states no preference (or only languages we lack) gets the language most of
//! them read.

use axum::http::{HeaderMap, header};

/// A language the portals are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Danish, the default.
    #[default]
    Da,
    /// English.
    En,
}

impl Lang {
    /// The ISO 639-1 code, as in `<html lang="…">`: `da` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Da => "da",
            Lang::En => "en",
        }
    }

    /// The language of a tag such as `da`, `EN`, `da-DK` or `en-GB` (any region, any case);
    /// `None` for another language.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("da") {
            Some(Lang::Da)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language the `Accept-Language` header prefers: the supported language with the
    /// highest `q` (the first listed among equals), ignoring `q=0` and `*`; Danish when the
    /// header is missing or names neither language.
    pub fn from_accept_language(headers: &HeaderMap) -> Lang {
        let mut ranges: Vec<(f32, Lang)> = headers
            .get_all(header::ACCEPT_LANGUAGE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|range| {
                let mut parts = range.split(';');
                let lang = Lang::parse(parts.next()?)?;
                let q = parts
                    .find_map(|p| {
                        let (k, v) = p.split_once('=')?;
                        k.trim()
                            .eq_ignore_ascii_case("q")
                            .then(|| v.trim().parse::<f32>())
                    })
                    .unwrap_or(Ok(1.0))
                    .ok()?;
                (q > 0.0 && q <= 1.0).then_some((q, lang))
            })
            .collect();
        // Stable, so among equal weights the order the browser listed them decides.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges.first().map(|&(_, lang)| lang).unwrap_or_default()
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(values: &[&str]) -> Lang {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(
                header::ACCEPT_LANGUAGE,
                HeaderValue::from_str(v).expect("value"),
            );
        }
        Lang::from_accept_language(&headers)
    }

    #[test]
    fn codes_display_and_default() {
        assert_eq!(Lang::default(), Lang::Da);
        assert_eq!(Lang::Da.code(), "da");
        assert_eq!(Lang::En.code(), "en");
        assert_eq!(Lang::En.to_string(), "en");
        assert_eq!(format!("{}", Lang::Da), "da");
    }

    #[test]
    fn parse_takes_the_primary_tag_in_any_case() {
        for (tag, lang) in [
            ("da", Some(Lang::Da)),
            ("DA", Some(Lang::Da)),
            ("da-DK", Some(Lang::Da)),
            (" en-GB ", Some(Lang::En)),
            ("En", Some(Lang::En)),
            ("en_US", Some(Lang::En)),
            ("de", None),
            ("dan", None),
            ("", None),
            ("*", None),
        ] {
            assert_eq!(Lang::parse(tag), lang, "{tag:?}");
        }
    }

    #[test]
    fn accept_language_goes_by_weight_then_order() {
        assert_eq!(accept(&[]), Lang::Da);
        assert_eq!(accept(&["en-GB,en;q=0.9,da;q=0.8"]), Lang::En);
        assert_eq!(accept(&["de-DE,de;q=0.9,en;q=0.5,da;q=0.7"]), Lang::Da);
        assert_eq!(accept(&["da;q=0.5, en;q=0.6"]), Lang::En);
        assert_eq!(accept(&["en, da"]), Lang::En);
        assert_eq!(accept(&["da, en"]), Lang::Da);
        assert_eq!(accept(&["fr, *;q=0.1"]), Lang::Da);
        assert_eq!(
            accept(&["en;q=0, de"]),
            Lang::Da,
            "q=0 means not acceptable"
        );
        assert_eq!(
            accept(&["en;q=abc, sv"]),
            Lang::Da,
            "a broken weight is ignored"
        );
        assert_eq!(
            accept(&["de", "en-US;Q=0.4"]),
            Lang::En,
            "several header lines"
        );
    }
}
