//! The portal's texts in Danish and English (`locales/`, compiled by the build script into
//! one `Msgs` per language). The web pages read them, and so does the store: its refusals
//! are rendered from here in English for the API and the CLI, and in the user's language on
//! the pages (`store::refusal`).

include!(concat!(env!("OUT_DIR"), "/text.rs"));

/// The texts in `lang`.
pub(crate) fn msgs(lang: service_kit::web::Lang) -> &'static Msgs {
    match lang {
        service_kit::web::Lang::Da => &DA,
        service_kit::web::Lang::En => &EN,
    }
}
