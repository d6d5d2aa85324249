//! Build: from a stored submission and a route to the exact FordelingsobjektAfsend request,
//! and the names of the files that travel over SFTP.
//!
//! This is the PHP handler's `buildDistributionObject`, with the values it hard-coded kept
//! where KOMBIT's receivers expect them (`Indeks=1`, `Fremdrift=Endeligt`, `VariantType=PDF`,
//! `DelTekst=Hele dokumentet`, `Dokumenttype=Anden`) and one deliberate change: a citizen's
//! submission to the municipality is `Retning=Indgaaende` (the PHP module says `Udgaaende`).
//! The result is built once per delivery and stored; retries send the stored bytes.
//!
//! A FORMULAR carries its PDF inline, Base64-encoded. The PDF is already stored as an
//! attachment, so the request is built around a placeholder and stored without it
//! ([`StoredRequest`]); at send time the attachment's Base64, from the one encoder
//! ([`Base64Binary::encode`]), goes back in at the recorded place. Every attempt still sends the
//! same bytes, and the stored request stays a few KB whatever the PDF's size.

use crate::config::{DistributionType, RouteConfig, TenantConfig};
use crate::store::{Attachment, Delivery, DeliveryFile, FileState, InlineFile, StoredRequest};
use serde_json::{Map, Value, json};
use sf2900::*;

/// Renders and validates a FORMULAR's form XML (Twig template + form XSD).
pub trait FormRenderer: Send + Sync {
    /// The rendered form XML, or an error naming the template, line and problem.
    fn render(&self, route: &RouteConfig, context: &Value) -> Result<String, String>;
}

/// Why a delivery could not be built: always something an operator must fix (template, data,
/// configuration), so never retried on its own.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

pub struct Built {
    /// The request, with [`INLINE_PLACEHOLDER`] where a FORMULAR's PDF goes.
    pub request: FordelingsobjektAfsendRequest,
    pub files: Vec<DeliveryFile>,
    /// The attachment that travels inline (FORMULAR), by id.
    pub inline_attachment: Option<String>,
}

/// Stands in for the inline PDF while the request is built and checked. Its Base64 is valid
/// `xs:base64Binary`, so the whole message validates with it in place; what replaces it at send
/// time is the output of the same encoder, so valid too.
pub const INLINE_PLACEHOLDER: &[u8] = b"fordeler inline PDF";

impl Built {
    /// The document to store and check: `(stored, as checked)`, the latter with the
    /// placeholder's Base64 still in place.
    pub fn to_stored(&self) -> Result<(StoredRequest, String), BuildError> {
        let checked = self.request.to_xml();
        let Some(attachment_id) = &self.inline_attachment else {
            let stored = StoredRequest {
                xml: checked.clone(),
                inline: None,
            };
            return Ok((stored, checked));
        };
        // Text before FormularIndhold is escaped (`>` is written `&gt;`), so the first
        // `FormularIndhold>` followed by the placeholder is the element itself.
        let placeholder = Base64Binary::encode(INLINE_PLACEHOLDER);
        let tag = "FormularIndhold>";
        let at = checked
            .match_indices(tag)
            .map(|(i, _)| i + tag.len())
            .find(|&i| checked[i..].starts_with(&placeholder))
            .ok_or_else(|| BuildError("the built FORMULAR has no place for its PDF".into()))?;
        let mut xml = String::with_capacity(checked.len() - placeholder.len());
        xml.push_str(&checked[..at]);
        xml.push_str(&checked[at + placeholder.len()..]);
        let inline = Some(InlineFile {
            attachment_id: attachment_id.clone(),
            at,
        });
        Ok((StoredRequest { xml, inline }, checked))
    }
}

impl StoredRequest {
    /// The document as sent: with the inline attachment's content (when there is one) put
    /// back where it was left out.
    pub fn document(&self, inline_content: Option<&[u8]>) -> Result<String, String> {
        let Some(inline) = &self.inline else {
            return Ok(self.xml.clone());
        };
        let content = inline_content.ok_or("the inline attachment's content is missing")?;
        let head = self
            .xml
            .get(..inline.at)
            .ok_or("the stored request is shorter than its inline offset")?;
        let encoded = Base64Binary::encode(content);
        let mut out = String::with_capacity(self.xml.len() + encoded.len());
        out.push_str(head);
        out.push_str(&encoded);
        out.push_str(&self.xml[inline.at..]);
        Ok(out)
    }
}

/// Longest remote file name: the KP schemas' `Dokumentnavn` takes 200 characters (the
/// trigger's `FileName` 255), and `<name>.sftpreceipt` must still fit a file system's 255 bytes.
pub const MAX_REMOTE_NAME: usize = 200;

/// Names a submission's files on the SFTP service as the PHP module does (templates refer to
/// them as `files.<key>[].sftp_filename`):
/// `os2forms_fordelingskomponent_<route>_<submission uuid>_<element key>_<index>.<ext>`, in
/// the characters `A–Z a–z 0–9 _ - .` only, at most [`MAX_REMOTE_NAME`] long.
///
/// Names are unique by construction, because a file that another one's name overwrites on the
/// platform is lost while both are marked delivered: route id (checked at start-up to be
/// `A–Z a–z 0–9 _`, at most 64 characters), submission uuid and index are always kept whole,
/// and only the element key gives way. A key that is not plain (`A–Z a–z 0–9 _`) or too long
/// is cut (on a character boundary) and marked with `-<n>`, its element's place among the
/// submission's elements: no plain key has a `-`, and no two elements share a place.
pub struct RemoteNames {
    /// `os2forms_fordelingskomponent_<route>_<uuid>_`.
    head: String,
    /// The submission's element keys, sorted; an element's place is its `-<n>`.
    elements: Vec<String>,
    /// Empty for a delivery's first transaction, `-t<n>` for its n-th.
    transaction: String,
}

impl RemoteNames {
    /// For the files of one submission (all of them: the places must not depend on which are
    /// uploaded) on one route.
    pub fn new(
        route_id: &str,
        submission_uuid: &str,
        transaction_no: i64,
        files: &[Attachment],
    ) -> Self {
        let mut elements: Vec<String> = files.iter().map(|a| a.element_key.clone()).collect();
        elements.sort_unstable();
        elements.dedup();
        let head = format!(
            "os2forms_fordelingskomponent_{}_{}_",
            safe(route_id),
            safe(submission_uuid)
        );
        // A resend's files get names of their own (`_<idx>-t<n>.<ext>`): the earlier
        // transaction's may still lie on the server. The first keeps the PHP module's names.
        let transaction = if transaction_no > 1 {
            format!("-t{transaction_no}")
        } else {
            String::new()
        };
        Self {
            head,
            elements,
            transaction,
        }
    }

    pub fn name(&self, a: &Attachment) -> String {
        let ext = a
            .name
            .rsplit_once('.')
            .map(|(_, e)| e)
            .filter(|e| !e.is_empty() && e.len() <= 8)
            .map_or_else(|| "bin".to_owned(), safe);
        let tail = format!("_{}{}.{ext}", a.idx, self.transaction);
        let room = MAX_REMOTE_NAME.saturating_sub(self.head.len() + tail.len());
        let key = &a.element_key;
        let plain = !key.is_empty()
            && key.len() <= room
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let key_part = if plain {
            key.clone()
        } else {
            let place = self
                .elements
                .binary_search(key)
                .unwrap_or(self.elements.len());
            let mark = format!("-{place}");
            // `safe` maps every character to one ASCII byte, so the cut falls between
            // characters of the key and the result is `room` bytes at most.
            let cut: String = safe(key)
                .chars()
                .map(|c| if c == '-' || c == '.' { '_' } else { c })
                .take(room.saturating_sub(mark.len()))
                .collect();
            cut + mark.as_str()
        };
        format!("{}{key_part}{tail}", self.head)
    }
}

/// Every character outside `A–Z a–z 0–9 _ - .` becomes one `_`.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Replaces the webform tokens the PHP handler supports in titel, beskrivelse, brugervendt
/// nøgle and journalpost message: `[webform_submission:values:KEY]` and base fields such as
/// `[webform_submission:uuid]`. Unknown tokens stay as written, as Drupal leaves them.
pub fn replace_tokens(text: &str, submission: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[webform_submission:") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(end) = after.find(']') else {
            out.push_str(after);
            return out;
        };
        let token = &after[1..end];
        let key = token.trim_start_matches("webform_submission:");
        let value = match key.strip_prefix("values:") {
            Some(path) => lookup(submission.get("data"), path),
            None => submission.get(key).map(plain),
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&after[..=end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn lookup(data: Option<&Value>, path: &str) -> Option<String> {
    let mut v = data?;
    for part in path.split(':') {
        v = v.get(part)?;
    }
    Some(plain(v))
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The Twig render context, the same shape as the PHP module's (`submission`,
/// `webform_submission`, `files.<key>[].sftp_filename`, `handler.settings`).
pub fn render_context(
    tenant: &TenantConfig,
    route: &RouteConfig,
    submission: &Map<String, Value>,
    files: &[(&Attachment, String)],
) -> Value {
    let mut by_element: Map<String, Value> = Map::new();
    for (a, name) in files {
        let entry = by_element
            .entry(a.element_key.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            items.push(json!({"sftp_filename": name, "file": {"name": a.name, "mime": a.mime, "size": a.size}}));
        }
    }
    let routing_myndighed = route.routing_myndighed(tenant);
    json!({
        "submission": submission,
        "webform_submission": submission,
        "files": by_element,
        "handler": {"settings": {
            "handler_id": route.id,
            "sender": {
                "sender_id": tenant.cvr.as_str(),
                "routing_myndighed": routing_myndighed.as_str(),
                "registrering_it_system": tenant.it_system.to_string(),
                "sftp": {"username": tenant.sftp.as_ref().map(|s| s.user.clone())},
            },
            "distribution_context": {
                "routing_modtager_aktoer": route.routing_modtager_aktoer.map(|u| u.to_string()),
                "kle_emne": route.kle_emne.as_ref().map(KleEmne::as_str),
                "handling_facet": route.handling_facet.as_ref().map(HandlingFacet::as_str),
                "titel": route.titel,
                "beskrivelse": route.beskrivelse,
            },
            "distribution_object": {
                "distribution_type": route.distribution_type.as_str(),
                "journalpost_message": route.journalpost_message,
                "attachment_element": route.attachment_element,
                "formular_type": route.formular_type,
                "files": {
                    "filspecifikation": route.files.filspecifikation,
                    "recipient_it_system_look_up": u8::from(route.files.recipient_it_system_look_up),
                    "recipient_it_system": route.files.recipient_it_system.map(|u| u.to_string()),
                    "recipient_authority": route.files.recipient_authority.as_ref().map(Cvr::as_str),
                },
            },
        }},
    })
}

/// Builds the request for one delivery.
pub fn build(
    tenant: &TenantConfig,
    route: &RouteConfig,
    delivery: &Delivery,
    submission: &Map<String, Value>,
    attachments: &[Attachment],
    renderer: &dyn FormRenderer,
) -> Result<Built, BuildError> {
    let afsender = tenant.cvr.clone();
    let routing_myndighed = route.routing_myndighed(tenant).clone();
    let routing_valg = match (&route.routing_modtager_aktoer, &route.kle_emne) {
        (Some(a), _) => RoutingValg::ModtagerAktoer(*a),
        (None, Some(k)) => RoutingValg::KleEmneHandling(RoutingKleInfo {
            routing_kle_emne: k.clone(),
            routing_handling_facet: route.handling_facet.clone(),
        }),
        (None, None) => {
            return Err(BuildError(
                "route: set kle_emne or routing_modtager_aktoer".into(),
            ));
        }
    };
    let kle = route
        .kle_emne
        .clone()
        .ok_or_else(|| BuildError("kle_emne: every object needs a KLEEmneForslag".into()))?;
    let facet = route.handling_facet.clone();
    let anvender_id = sf2900::types::parse_uuid(&delivery.anvender_transaktions_id)
        .map_err(|e| BuildError(format!("anvender_transaktions_id: {e}")))?;
    let it_system = tenant.it_system;
    let now = DateTime::now();
    let virkning = || Virkning::it_system(it_system);
    let text = |t: &str| replace_tokens(t, submission);

    let attachment = |element: &Option<String>| -> Result<Option<&Attachment>, BuildError> {
        let Some(key) = element else { return Ok(None) };
        attachments
            .iter()
            .find(|a| &a.element_key == key)
            .map(Some)
            .ok_or_else(|| {
                BuildError(format!(
                    "attachment_element: the submission has no file in element `{key}`"
                ))
            })
    };

    let mut context =
        DistributionContext::new(anvender_id, afsender, routing_myndighed, routing_valg);
    let mut files: Vec<DeliveryFile> = Vec::new();
    let names = RemoteNames::new(
        &route.id,
        &delivery.submission_uuid,
        delivery.transaction_no,
        attachments,
    );
    let mut file_for = |a: &Attachment| {
        let name = names.name(a);
        files.push(DeliveryFile {
            attachment_id: a.id.clone(),
            remote_name: name.clone(),
            state: FileState::Pending,
            transaction_id: delivery.anvender_transaktions_id.clone(),
        });
        name
    };

    let mut inline_attachment = None;
    let indhold = match route.distribution_type {
        DistributionType::Journalpost => {
            ObjektIndhold::DistributionJournalPost(DistributionJournalPost {
                id: sf2900::Uuid::new_v4(),
                kle_emne_forslag: kle,
                handling_facet_forslag: facet,
                sag_forslag: None,
                part_angivelse: None,
                registrering: JournalPostRegistrering {
                    fra_tids_punkt: now,
                    livscyklus_kode: LivscyklusKode::Oprettet,
                    import_tidspunkt: None,
                    bruger_ref: None,
                    registrering_it_system: UuidUrn::Uuid(it_system),
                    relation_liste: JournalPostRelationsListe {
                        journal_post: vec![JournalPost {
                            virkning: virkning(),
                            rolle: JournalPostRolle::Journalpost,
                            indeks: "1".into(),
                            dokument: None,
                            journalpost_attributter: None,
                            journalnotat_attributter: JournalNotatEgenskaber {
                                titel: Some(text(&route.titel)).filter(|t| !t.is_empty()),
                                notat: text(&route.journalpost_message),
                            },
                        }],
                    },
                },
            })
        }
        DistributionType::Dokument => {
            let pdf = attachment(&route.attachment_element)?.ok_or_else(|| {
                BuildError("attachment_element: DOKUMENT needs the PDF element".into())
            })?;
            context.dokument_fil_navn = Some(file_for(pdf));
            ObjektIndhold::DistributionDokument(DistributionDokument {
                id: sf2900::Uuid::new_v4(),
                kle_emne_forslag: kle,
                handling_facet_forslag: facet,
                sag_forslag: None,
                registrering: DokumentRegistrering {
                    fra_tids_punkt: now,
                    livscyklus_kode: LivscyklusKode::Oprettet,
                    import_tidspunkt: None,
                    bruger_ref: None,
                    registrering_it_system: UuidUrn::Uuid(it_system),
                    relation_liste: RelationsListe {
                        variant_liste: VariantListe {
                            variant: vec![Variant {
                                virkning: virkning(),
                                rolle: VariantRolle::Variant,
                                indeks: "1".into(),
                                variant_attributter: VariantAttributter {
                                    variant_type: "PDF".into(),
                                    produktion: None,
                                    offentliggoerelse: None,
                                    arkivering: None,
                                    delvist_scannet: None,
                                },
                                del_attributter: DelAttributter {
                                    del_tekst: "Hele dokumentet".into(),
                                    indeks: None,
                                    indhold: None,
                                    filstoerrelse: Some(pdf.size),
                                    mime_type: Some(pdf.mime.clone()),
                                    scanner_id: None,
                                    location: None,
                                },
                            }],
                        },
                        dokument_part_liste: None,
                    },
                    tilstands_liste: vec![TilstandListe {
                        tilstand: vec![Tilstand {
                            fremdrift: Fremdrift::Endeligt,
                            virkning: virkning(),
                        }],
                    }],
                    attribut_liste: AttributterListe {
                        attributter: vec![Attributter {
                            brugervendt_noegle_tekst: text(&route.brugervendt_noegle),
                            titel_tekst: text(&route.titel),
                            beskrivelse_tekst: text(&route.beskrivelse),
                            dokumenttype: Dokumenttype::Anden,
                            retning: Retning::Indgaaende,
                            brevdato: Date(chrono::Utc::now().date_naive()),
                            fristdato: None,
                            version_identifikator: None,
                            underversion_identificator: None,
                            kassationskode_tekst: None,
                            virkning: virkning(),
                            offentlighed_undtaget: None,
                        }],
                    },
                },
            })
        }
        DistributionType::Formular => {
            let pdf = attachment(&route.attachment_element)?.ok_or_else(|| {
                BuildError("attachment_element: FORMULAR needs the PDF element".into())
            })?;
            if pdf.mime != "application/pdf" {
                return Err(BuildError(format!(
                    "attachment_element: `{}` must be a PDF (is {})",
                    pdf.element_key, pdf.mime
                )));
            }
            inline_attachment = Some(pdf.id.clone());
            // Every other file of the submission travels over SFTP, named in the form XML.
            let uploads: Vec<(&Attachment, String)> = attachments
                .iter()
                .filter(|a| a.id != pdf.id)
                .map(|a| (a, file_for(a)))
                .collect();
            let ctx = render_context(tenant, route, submission, &uploads);
            let xml = renderer.render(route, &ctx).map_err(BuildError)?;
            let formular_xml =
                FormularXml::parse(&xml).map_err(|e| BuildError(format!("xml_template: {e}")))?;
            ObjektIndhold::DistributionFormular(DistributionFormular {
                id: sf2900::Uuid::new_v4(),
                kle_emne_forslag: kle,
                handling_facet_forslag: facet,
                meddelelse: Meddelelse {
                    formular_type: route.formular_type.clone().unwrap_or_default(),
                    formular: Formular {
                        titel_tekst: pdf.name.clone(),
                        format_navn: pdf
                            .name
                            .rsplit_once('.')
                            .map_or("pdf", |(_, e)| e)
                            .to_lowercase(),
                        formular_indhold: Base64Binary(INLINE_PLACEHOLDER.to_vec()),
                        formular_xml,
                    },
                },
            })
        }
    };
    let request = FordelingsobjektAfsendRequest {
        call_context: None,
        authority_context: Some(AuthorityContext::new(tenant.cvr.clone())),
        anmodning: Anmodning {
            distribution_context: context,
            distribution_object: DistributionObject::new(indhold),
        },
    };
    Ok(Built {
        request,
        files,
        inline_attachment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stands in for the Twig renderer (the form XML is not what this module decides).
    struct FixedForm;
    impl FormRenderer for FixedForm {
        fn render(&self, _: &RouteConfig, _: &Value) -> Result<String, String> {
            Ok("<SP241 xmlns=\"\"><Header>Æ &amp; FormularIndhold&gt;</Header></SP241>".into())
        }
    }

    fn formular(pdf: &[u8]) -> (TenantConfig, RouteConfig, Delivery, Vec<Attachment>) {
        let config: crate::config::Config = toml::from_str(
            r#"[[tenant]]
cvr = "29189846"
name = "K"
service_url = "https://sp.invalid"
certificate = "a.p12"
passphrase = { env = "UNUSED" }
it_system = "cfcf2769-9a1f-4d3b-b6d2-ddfb3a2f9dd6"

[[form]]
webform_id = "f"
tenant = "29189846"

[[form.route]]
id = "kp"
distribution_type = "FORMULAR"
kle_emne = "32.03.12"
attachment_element = "kvittering"
formular_type = "F_1"
xml_template = "t.twig""#,
        )
        .unwrap();
        let tenant = config.tenants[0].clone();
        let route = config.forms[0].routes[0].clone();
        let delivery = Delivery::unsaved(
            "u",
            "f",
            "kp",
            DistributionType::Formular,
            tenant.cvr.as_str(),
            &sf2900::Uuid::new_v4().to_string(),
        );
        let pdf = Attachment {
            id: "a1".into(),
            element_key: "kvittering".into(),
            idx: 0,
            name: "k.pdf".into(),
            mime: "application/pdf".into(),
            size: pdf.len() as i64,
            // The build needs no content: the PDF goes in at send time.
            data: Vec::new(),
            segment: None,
        };
        (tenant, route, delivery, vec![pdf])
    }

    #[test]
    fn the_stored_formular_leaves_out_its_pdf_and_sends_it_exactly() {
        let pdf: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (tenant, route, delivery, files) = formular(&pdf);
        let built = build(&tenant, &route, &delivery, &Map::new(), &files, &FixedForm).unwrap();
        assert_eq!(built.inline_attachment.as_deref(), Some("a1"));
        let (stored, checked) = built.to_stored().unwrap();
        assert!(
            stored.xml.len() < 4_000,
            "stored {} bytes",
            stored.xml.len()
        );
        let inline = stored.inline.clone().unwrap();
        assert_eq!(inline.attachment_id, "a1");

        // What is sent is what building with the PDF in place would have written.
        let sent = stored.document(Some(&pdf)).unwrap();
        let mut whole = built.request.clone();
        let ObjektIndhold::DistributionFormular(f) =
            &mut whole.anmodning.distribution_object.objekt_indhold
        else {
            panic!("a FORMULAR");
        };
        f.meddelelse.formular.formular_indhold = Base64Binary(pdf.clone());
        assert_eq!(sent, whole.to_xml());
        assert_eq!(
            checked.len() - Base64Binary::encode(INLINE_PLACEHOLDER).len(),
            stored.xml.len()
        );
        // And it reads back to the same PDF.
        let back = FordelingsobjektAfsendRequest::from_xml(&sent).unwrap();
        let ObjektIndhold::DistributionFormular(f) =
            back.anmodning.distribution_object.objekt_indhold
        else {
            panic!("a FORMULAR");
        };
        assert_eq!(f.meddelelse.formular.formular_indhold.0, pdf);
        // Without the content (purged), nothing is sent.
        assert!(stored.document(None).is_err());
    }

    #[test]
    fn other_kinds_are_stored_whole() {
        let (tenant, mut route, delivery, files) = formular(b"%PDF");
        route.distribution_type = DistributionType::Dokument;
        let built = build(&tenant, &route, &delivery, &Map::new(), &files, &FixedForm).unwrap();
        let (stored, checked) = built.to_stored().unwrap();
        assert_eq!((stored.inline.as_ref(), &stored.xml), (None, &checked));
        assert_eq!(stored.document(None).unwrap(), checked);
    }

    #[test]
    fn tokens_are_replaced_and_unknown_ones_kept() {
        let s: Map<String, Value> = serde_json::from_value(json!({
            "uuid": "u-1", "serial": "7", "data": {"navn": "Æble", "adresse": {"by": "Aarhus"}, "liste": ["a", "b"]}
        }))
        .unwrap();
        assert_eq!(
            replace_tokens(
                "Ansøgning [webform_submission:serial] fra [webform_submission:values:navn] i [webform_submission:values:adresse:by] [webform_submission:values:liste] [webform_submission:values:nope] [x",
                &s
            ),
            "Ansøgning 7 fra Æble i Aarhus a, b [webform_submission:values:nope] [x"
        );
    }

    #[test]
    fn remote_names_are_safe_bounded_and_unique() {
        let file = |key: &str, idx: i64, name: &str| Attachment {
            id: format!("{key}{idx}"),
            element_key: key.into(),
            idx,
            name: name.into(),
            mime: "application/pdf".into(),
            size: 1,
            data: vec![],
            segment: None,
        };
        let uuid = "2b801c0b-9e36-4cc5-b5d1-c46239cb78ce";
        // A plain key is named as the PHP module names it.
        let bilag = file("dokumenter_bilag", 0, "Bilag 1.PDF");
        let names = RemoteNames::new("kp", uuid, 1, std::slice::from_ref(&bilag));
        assert_eq!(
            names.name(&bilag),
            "os2forms_fordelingskomponent_kp_2b801c0b-9e36-4cc5-b5d1-c46239cb78ce_dokumenter_bilag_0.PDF"
        );
        // A resend (the delivery's second transaction) names its files apart.
        let names = RemoteNames::new("kp", uuid, 2, std::slice::from_ref(&bilag));
        assert_eq!(
            names.name(&bilag),
            "os2forms_fordelingskomponent_kp_2b801c0b-9e36-4cc5-b5d1-c46239cb78ce_dokumenter_bilag_0-t2.PDF"
        );

        // Long keys sharing their first 299 characters, one with æøå and spaces, several
        // files each, in several submissions and transactions (resends) of each: every name
        // distinct, bounded, with its submission's uuid and its index.
        let long = "a".repeat(299);
        let keys = [
            format!("{long}1"),
            format!("{long}2"),
            format!("æøå {long}"),
            "a b".into(),
            "a_b".into(),
            "".into(),
        ];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 {
            let uuid = sf2900::Uuid::new_v4().to_string();
            let files: Vec<Attachment> = keys
                .iter()
                .flat_map(|k| (0..3).map(move |i| file(k, i, "x.pdf")))
                .collect();
            for transaction in [1, 2, 10] {
                let names =
                    RemoteNames::new("fordelingskomponent_sf2900", &uuid, transaction, &files);
                for f in &files {
                    let n = names.name(f);
                    assert!(n.len() <= MAX_REMOTE_NAME, "{} bytes: {n}", n.len());
                    assert!(n.contains(&uuid), "{n}");
                    let t = if transaction > 1 {
                        format!("-t{transaction}")
                    } else {
                        String::new()
                    };
                    assert!(n.ends_with(&format!("_{}{t}.pdf", f.idx)), "{n}");
                    assert!(
                        n.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                        "{n}"
                    );
                    assert!(seen.insert(n.clone()), "{n} is given twice");
                }
            }
        }
        assert_eq!(seen.len(), 3 * 3 * keys.len() * 3);
    }
}
