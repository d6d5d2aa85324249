//! The web foundation both products' pages stand on (placeholder while being merged).

pub mod second_factor;
pub mod session;

/// Placeholder until the i18n module lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Danish.
    #[default]
    Da,
    /// English.
    En,
}
impl Lang {
    /// code
    pub fn code(self) -> &'static str { match self { Lang::Da => "da", Lang::En => "en" } }
    /// parse
    pub fn parse(s: &str) -> Option<Lang> { match s { "da" => Some(Lang::Da), "en" => Some(Lang::En), _ => None } }
}
