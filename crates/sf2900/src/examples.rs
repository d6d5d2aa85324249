//! Example messages: each message with only its required fields and with every field filled.
//!
//! They document what a real message looks like, drive the XSD conformance tests, and give the
//! simulator and the Fordeler's tests realistic input. The values follow the SP241
//! Helbredstillæg example of the PHP module (KLE 32.03.12, facet G01).

use crate::messages::*;
use crate::model::*;
use crate::sftp::*;
use crate::types::*;

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x2b80_1c0b_9e36_4cc5_b5d1_0000_0000_0000 + n)
}

fn cvr(s: &str) -> Cvr {
    Cvr::new(s).expect("example CVR is valid")
}

fn kle() -> KleEmne {
    KleEmne::new("32.03.12").expect("example KLE is valid")
}

fn facet() -> HandlingFacet {
    HandlingFacet::new("G01").expect("example facet is valid")
}

fn at(s: &str) -> DateTime {
    DateTime(chrono::DateTime::parse_from_rfc3339(s).expect("example time is valid"))
}

fn date(s: &str) -> Date {
    Date(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("example date is valid"))
}

/// The demo municipality.
pub const CVR: &str = "29189846";
/// The IT system that registers the objects.
pub fn it_system() -> Uuid {
    uuid(1)
}

/// A context with only the required elements: routed by KLE emne.
pub fn context_minimal() -> DistributionContext {
    DistributionContext::new(
        uuid(10),
        cvr(CVR),
        cvr(CVR),
        RoutingValg::KleEmneHandling(RoutingKleInfo {
            routing_kle_emne: kle(),
            routing_handling_facet: None,
        }),
    )
}

/// A context with every element.
pub fn context_full() -> DistributionContext {
    DistributionContext {
        distribution_transaktions_id: Some(uuid(11)),
        digital_post_meddelelses_id: Some("DP-4711".into()),
        routing_valg: RoutingValg::KleEmneHandling(RoutingKleInfo {
            routing_kle_emne: kle(),
            routing_handling_facet: Some(facet()),
        }),
        dokument_fil_navn: Some("os2forms_fordeler_2b801c0b_kvittering.pdf".into()),
        ..context_minimal()
    }
}

fn virkning_full() -> Virkning {
    Virkning {
        fra_tidspunkt: Some(at("2026-11-23T10:15:00+01:00")),
        til_tidspunkt: Some(at("2036-11-23T10:15:00+01:00")),
        aktoer: UuidUrn::Urn(Urn::new("urn:oio:cvr-nr:29189846").expect("valid URN")),
        aktoer_type: AktoerType::Organisation,
        note_tekst: Some("Oprettet af OS2forms".into()),
    }
}

fn offentlighed() -> OffentlighedUndtaget {
    OffentlighedUndtaget {
        titel_alternativ_tekst: "Ansøgning (personoplysninger)".into(),
        hjemmel_tekst: "Offentlighedslovens § 30".into(),
    }
}

/// A JOURNALPOST (journalnotat) with only required fields.
pub fn journalpost_minimal() -> DistributionJournalPost {
    DistributionJournalPost {
        id: uuid(20),
        kle_emne_forslag: kle(),
        handling_facet_forslag: None,
        sag_forslag: None,
        part_angivelse: None,
        registrering: JournalPostRegistrering {
            fra_tids_punkt: at("2026-11-23T10:15:00+01:00"),
            livscyklus_kode: LivscyklusKode::Oprettet,
            import_tidspunkt: None,
            bruger_ref: None,
            registrering_it_system: UuidUrn::Uuid(it_system()),
            relation_liste: JournalPostRelationsListe {
                journal_post: vec![JournalPost {
                    virkning: Virkning::it_system(it_system()),
                    rolle: JournalPostRolle::Journalpost,
                    indeks: "1".into(),
                    dokument: None,
                    journalpost_attributter: None,
                    journalnotat_attributter: JournalNotatEgenskaber {
                        titel: None,
                        notat: "Henvendelse modtaget".into(),
                    },
                }],
            },
        },
    }
}

/// A JOURNALPOST with every optional part.
pub fn journalpost_full() -> DistributionJournalPost {
    let mut j = journalpost_minimal();
    j.handling_facet_forslag = Some(facet());
    j.sag_forslag = Some(uuid(21));
    j.part_angivelse = Some(Part {
        objekt_type: PartObjektType::Person,
        reference_id: UuidUrnTekst::Tekst("Ansøger".into()),
    });
    j.registrering.import_tidspunkt = Some(at("2026-11-23T10:16:00Z"));
    j.registrering.bruger_ref = Some(UuidUrn::Uuid(uuid(22)));
    j.registrering.relation_liste.journal_post = vec![JournalPost {
        virkning: virkning_full(),
        rolle: JournalPostRolle::Journalpost,
        indeks: "1".into(),
        dokument: Some(JournalPart {
            objekttype: JournalPartObjekttype::Dokument,
            reference_id: UuidUrn::Uuid(uuid(23)),
        }),
        journalpost_attributter: Some(JournalpostEgenskaber {
            dokumenttitel: Some("Ansøgning om helbredstillæg".into()),
            offentlighed_undtaget: Some(offentlighed()),
        }),
        journalnotat_attributter: JournalNotatEgenskaber {
            titel: Some("Notat & <bemærkning>".into()),
            notat: "Borgeren har søgt via OS2forms.\nSe vedhæftet kvittering.".into(),
        },
    }];
    j
}

/// A DOKUMENT (the PDF travels over SFTP, named in DokumentFilNavn) with only required fields.
pub fn dokument_minimal() -> DistributionDokument {
    DistributionDokument {
        id: uuid(30),
        kle_emne_forslag: kle(),
        handling_facet_forslag: None,
        sag_forslag: None,
        registrering: DokumentRegistrering {
            fra_tids_punkt: at("2026-11-23T10:15:00+01:00"),
            livscyklus_kode: LivscyklusKode::Oprettet,
            import_tidspunkt: None,
            bruger_ref: None,
            registrering_it_system: UuidUrn::Uuid(it_system()),
            relation_liste: RelationsListe {
                variant_liste: VariantListe {
                    variant: vec![Variant {
                        virkning: Virkning::it_system(it_system()),
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
                            filstoerrelse: None,
                            mime_type: None,
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
                    virkning: Virkning::it_system(it_system()),
                }],
            }],
            attribut_liste: AttributterListe {
                attributter: vec![Attributter {
                    brugervendt_noegle_tekst: "OS2forms-2b801c0b".into(),
                    titel_tekst: "Ansøgning".into(),
                    beskrivelse_tekst: "Indsendt via OS2forms".into(),
                    dokumenttype: Dokumenttype::Anden,
                    retning: Retning::Indgaaende,
                    brevdato: date("2026-11-23"),
                    fristdato: None,
                    version_identifikator: None,
                    underversion_identificator: None,
                    kassationskode_tekst: None,
                    virkning: Virkning::it_system(it_system()),
                    offentlighed_undtaget: None,
                }],
            },
        },
    }
}

/// A DOKUMENT with every optional part (a party, the variant's file details).
pub fn dokument_full() -> DistributionDokument {
    let mut d = dokument_minimal();
    d.handling_facet_forslag = Some(facet());
    d.sag_forslag = Some(uuid(31));
    let r = &mut d.registrering;
    r.import_tidspunkt = Some(at("2026-11-23T10:16:00Z"));
    r.bruger_ref = Some(UuidUrn::Urn(
        Urn::new("urn:oio:bruger:fordeler").expect("valid URN"),
    ));
    let v = &mut r.relation_liste.variant_liste.variant[0];
    v.virkning = virkning_full();
    v.variant_attributter.produktion = Some("OS2forms".into());
    v.variant_attributter.offentliggoerelse = Some(false);
    v.variant_attributter.arkivering = Some(true);
    v.variant_attributter.delvist_scannet = Some(false);
    v.del_attributter = DelAttributter {
        del_tekst: "Hele dokumentet".into(),
        indeks: Some(1),
        indhold: Some("Kvittering".into()),
        filstoerrelse: Some(102_400),
        mime_type: Some("application/pdf".into()),
        scanner_id: Some("none".into()),
        location: Some("os2forms_fordeler_2b801c0b_kvittering.pdf".into()),
    };
    r.relation_liste.dokument_part_liste = Some(DokumentPartListe {
        dokument_part: vec![DokumentPart {
            virkning: virkning_full(),
            rolle: DokumentPartRolle::PrimaerPart,
            indeks: 1,
            part: Part {
                objekt_type: PartObjektType::Person,
                reference_id: UuidUrnTekst::Uuid(uuid(32)),
            },
        }],
    });
    r.tilstands_liste[0].tilstand.push(Tilstand {
        fremdrift: Fremdrift::Modtaget,
        virkning: virkning_full(),
    });
    let a = &mut r.attribut_liste.attributter[0];
    a.fristdato = Some(date("2026-12-23"));
    a.version_identifikator = Some(1);
    a.underversion_identificator = Some(0);
    a.kassationskode_tekst = Some("B".into());
    a.virkning = virkning_full();
    a.offentlighed_undtaget = Some(offentlighed());
    d
}

/// An SP241 (Ansøgning om helbredstillæg) form XML that is valid for the KP schema: in no
/// namespace, as the KP schemas are, and with fictitious data only.
pub const SP241_XML: &str = "<SP241>\
<Header><Myndighed>urn:oio:cvr-nr:29189846</Myndighed><ModtagetDato>2026-11-23</ModtagetDato><KLE>32.03.12</KLE>\
<Dokumenter><Dokumentnavn>os2forms_fordeler_demo_bilag.pdf</Dokumentnavn><Dokumenttype>Bilag</Dokumenttype></Dokumenter></Header>\
<AnsoegerOplysninger><AnsoegningUdenLogin><Fornavn>Testperson Æblegård</Fornavn></AnsoegningUdenLogin></AnsoegerOplysninger>\
<Sygeforsikring><Gruppe>GRUPPE_1</Gruppe></Sygeforsikring>\
<Erklaering>Accepteret</Erklaering>\
<Underskriftsoplysninger><Underskrift>Testperson</Underskrift><Underskriftsdato>2026-11-23</Underskriftsdato></Underskriftsoplysninger>\
</SP241>";

/// A FORMULAR with only required fields.
pub fn formular_minimal() -> DistributionFormular {
    DistributionFormular {
        id: uuid(40),
        kle_emne_forslag: kle(),
        handling_facet_forslag: None,
        meddelelse: Meddelelse {
            formular_type: "HelbredstillægAnsøgningFormular_1".into(),
            formular: Formular {
                titel_tekst: "kvittering.pdf".into(),
                format_navn: "pdf".into(),
                formular_indhold: Base64Binary(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec()),
                formular_xml: FormularXml::parse(SP241_XML)
                    .expect("example form XML is well-formed"),
            },
        },
    }
}

/// A FORMULAR with every optional part.
pub fn formular_full() -> DistributionFormular {
    DistributionFormular {
        handling_facet_forslag: Some(facet()),
        ..formular_minimal()
    }
}

fn afsend(
    ctx: DistributionContext,
    obj: ObjektIndhold,
    full: bool,
) -> FordelingsobjektAfsendRequest {
    FordelingsobjektAfsendRequest {
        call_context: full.then(|| {
            CallContext::new(
                Some("fordeler".into()),
                Some("2b801c0b-call".into()),
                Some("OS2forms".into()),
            )
            .expect("example call context is valid")
        }),
        authority_context: Some(AuthorityContext::new(cvr(CVR))),
        anmodning: Anmodning {
            distribution_context: ctx,
            distribution_object: DistributionObject::new(obj),
        },
    }
}

/// Every request the crate can encode, minimal and full, named for test output.
pub fn afsend_requests() -> Vec<(&'static str, FordelingsobjektAfsendRequest)> {
    let mut minimal_no_auth = afsend(
        context_minimal(),
        ObjektIndhold::DistributionJournalPost(journalpost_minimal()),
        false,
    );
    minimal_no_auth.authority_context = None;
    let aktoer = DistributionContext {
        routing_valg: RoutingValg::ModtagerAktoer(uuid(50)),
        ..context_minimal()
    };
    vec![
        ("afsend journalpost minimal", minimal_no_auth),
        (
            "afsend journalpost full",
            afsend(
                context_full(),
                ObjektIndhold::DistributionJournalPost(journalpost_full()),
                true,
            ),
        ),
        (
            "afsend dokument minimal",
            afsend(
                context_minimal(),
                ObjektIndhold::DistributionDokument(dokument_minimal()),
                false,
            ),
        ),
        (
            "afsend dokument full",
            afsend(
                context_full(),
                ObjektIndhold::DistributionDokument(dokument_full()),
                true,
            ),
        ),
        (
            "afsend formular minimal",
            afsend(
                context_minimal(),
                ObjektIndhold::DistributionFormular(formular_minimal()),
                false,
            ),
        ),
        (
            "afsend formular full",
            afsend(
                context_full(),
                ObjektIndhold::DistributionFormular(formular_full()),
                true,
            ),
        ),
        (
            "afsend formular modtager-aktoer",
            afsend(
                aktoer,
                ObjektIndhold::DistributionFormular(formular_minimal()),
                false,
            ),
        ),
    ]
}

fn kvittering_full(kode: ForretningsValideringsKode) -> Forretningskvittering {
    Forretningskvittering {
        forretnings_validerings_kode: kode,
        kvitteringstype: Kvitteringstype::Forretning,
        begrundelse: Some("Modtageren afviste objektet".into()),
        fejl_liste: Some(FejlListe {
            fejl: vec![Fejl {
                fejl_kode: "E100".into(),
                fejl_tekst: "Ukendt formulartype".into(),
            }],
        }),
    }
}

/// The platform's answer to FordelingsobjektAfsend, with only required elements.
pub fn afsend_response_minimal() -> FordelingsobjektAfsendResponse {
    FordelingsobjektAfsendResponse {
        forretnings_kvittering: Forretningskvittering::new(
            ForretningsValideringsKode::Modtaget,
            Kvitteringstype::Teknisk,
        ),
        distribution_context: DistributionContext {
            distribution_transaktions_id: Some(uuid(11)),
            ..context_minimal()
        },
    }
}

/// The platform's answer to FordelingsobjektAfsend, with every element.
pub fn afsend_response_full() -> FordelingsobjektAfsendResponse {
    FordelingsobjektAfsendResponse {
        forretnings_kvittering: kvittering_full(ForretningsValideringsKode::Afvist),
        distribution_context: context_full(),
    }
}

/// A FordelingsmodtagerList request with only required elements.
pub fn list_request_minimal() -> FordelingsmodtagerListRequest {
    FordelingsmodtagerListRequest {
        call_context: None,
        authority_context: None,
        routing: RoutingForespoergsel {
            afsendende_myndighed: cvr(CVR),
            routing_myndighed: cvr(CVR),
            routing_kle_emne: kle(),
            routing_handling_facet: None,
        },
    }
}

/// A FordelingsmodtagerList request with every element.
pub fn list_request_full() -> FordelingsmodtagerListRequest {
    let mut r = list_request_minimal();
    r.call_context =
        Some(CallContext::new(None, Some("routing-preview".into()), None).expect("valid"));
    r.authority_context = Some(AuthorityContext::new(cvr(CVR)));
    r.routing.routing_handling_facet = Some(facet());
    r
}

/// A FordelingsmodtagerList answer with no receiving system.
pub fn list_response_minimal() -> FordelingsmodtagerListResponse {
    FordelingsmodtagerListResponse {
        systemer: Systemer { system: vec![] },
    }
}

/// A FordelingsmodtagerList answer with two receiving systems.
pub fn list_response_full() -> FordelingsmodtagerListResponse {
    FordelingsmodtagerListResponse {
        systemer: Systemer {
            system: vec![
                System {
                    system_myndighed: Some(cvr(CVR)),
                    system_uuid: uuid(60),
                    system_navn: "KP Ydelsessystem".into(),
                    routing_kle_emne: kle().into(),
                    routing_handling_facet: Some(facet()),
                },
                System {
                    system_myndighed: Some(cvr("55133018")),
                    system_uuid: uuid(61),
                    system_navn: "ESDH".into(),
                    routing_kle_emne: kle().into(),
                    routing_handling_facet: None,
                },
            ],
        },
    }
}

/// A FordelingsmodtagerValider request with only required elements.
pub fn valider_request_minimal() -> FordelingsmodtagerValiderRequest {
    FordelingsmodtagerValiderRequest {
        call_context: None,
        authority_context: None,
        afsendende_myndighed: cvr(CVR),
        routing_liste: RoutingListe {
            routing: vec![Routing {
                routing_myndighed: cvr(CVR),
                routing_modtager_aktoer: uuid(60),
            }],
        },
    }
}

/// A FordelingsmodtagerValider request with every element.
pub fn valider_request_full() -> FordelingsmodtagerValiderRequest {
    let mut r = valider_request_minimal();
    r.call_context = Some(
        CallContext::new(Some("x".into()), Some("y".into()), Some("z".into())).expect("valid"),
    );
    r.authority_context = Some(AuthorityContext::new(cvr(CVR)));
    r.routing_liste.routing.push(Routing {
        routing_myndighed: cvr("55133018"),
        routing_modtager_aktoer: uuid(61),
    });
    r
}

/// A FordelingsmodtagerValider answer with only required elements.
pub fn valider_response_minimal() -> FordelingsmodtagerValiderResponse {
    FordelingsmodtagerValiderResponse {
        routing_liste: RoutingResposneListe {
            routing_modtager: vec![RoutingModtager {
                routing_myndighed: cvr(CVR),
                routing_modtager_aktoer: uuid(60),
                kan_modtage: true,
            }],
        },
    }
}

/// A FordelingsmodtagerValider answer with every element.
pub fn valider_response_full() -> FordelingsmodtagerValiderResponse {
    let mut r = valider_response_minimal();
    r.routing_liste.routing_modtager.push(RoutingModtager {
        routing_myndighed: cvr("55133018"),
        routing_modtager_aktoer: uuid(61),
        kan_modtage: false,
    });
    r
}

/// A FordelingskvitteringModtag request with only required elements.
pub fn kvittering_modtag_request_minimal() -> FordelingskvitteringModtagRequest {
    FordelingskvitteringModtagRequest {
        call_context: None,
        authority_context: None,
        forretningskvittering: Forretningskvittering::new(
            ForretningsValideringsKode::Accepteret,
            Kvitteringstype::Forretning,
        ),
        distribution_context: DistributionContext {
            distribution_transaktions_id: Some(uuid(11)),
            ..context_minimal()
        },
    }
}

/// A FordelingskvitteringModtag request with every element.
pub fn kvittering_modtag_request_full() -> FordelingskvitteringModtagRequest {
    FordelingskvitteringModtagRequest {
        call_context: Some(CallContext::new(None, None, Some("modtager".into())).expect("valid")),
        authority_context: Some(AuthorityContext::new(cvr(CVR))),
        forretningskvittering: kvittering_full(ForretningsValideringsKode::Fejlet),
        distribution_context: context_full(),
    }
}

/// The platform's asynchronous receipt to the anvender, with only required elements.
pub fn anvender_callback_minimal() -> FordelingskvitteringModtagAnvenderRequest {
    FordelingskvitteringModtagAnvenderRequest {
        forretningskvittering: Forretningskvittering::new(
            ForretningsValideringsKode::Afleveret,
            Kvitteringstype::Teknisk,
        ),
        distribution_context: DistributionContext {
            distribution_transaktions_id: Some(uuid(11)),
            ..context_minimal()
        },
    }
}

/// The platform's asynchronous receipt to the anvender, with every element.
pub fn anvender_callback_full() -> FordelingskvitteringModtagAnvenderRequest {
    FordelingskvitteringModtagAnvenderRequest {
        forretningskvittering: kvittering_full(ForretningsValideringsKode::Accepteret),
        distribution_context: context_full(),
    }
}

/// A transport receipt refusing a message, with every element.
pub fn transport_kvittering_full() -> TransportKvittering {
    TransportKvittering {
        transport_validerings_kode: TransportValideringsKode::Fejl,
        begrundelse: Some("Validering fejlede".into()),
        fejl_liste: Some(FejlListe {
            fejl: vec![Fejl {
                fejl_kode: "XSD".into(),
                fejl_tekst: "Element 'RoutingMyndighed' mangler".into(),
            }],
        }),
    }
}

/// A transport receipt with only its code.
pub fn transport_kvittering_minimal() -> TransportKvittering {
    TransportKvittering {
        transport_validerings_kode: TransportValideringsKode::Fejl,
        begrundelse: None,
        fejl_liste: None,
    }
}

/// A trigger without a content description.
pub fn trigger_minimal() -> Trigger {
    Trigger {
        file_descriptor: FileDescriptor {
            file_name: "os2forms_fordeler_2b801c0b_bilag_0.pdf".into(),
            size_in_bytes: 102_400,
            sender: "OS2Forms_Fordeling".into(),
            senders_file_id: None,
            recipients: vec![crate::ns::SFTP_DYNAMIC_ROUTING.into()],
        },
        file_content_descriptor: FileContentDescriptor::Empty,
    }
}

/// A trigger with dynamic routing information, as the Fordeler writes it.
pub fn trigger_full() -> Trigger {
    let mut t = trigger_minimal();
    t.file_descriptor.senders_file_id = Some(uuid(70).to_string());
    t.file_content_descriptor = FileContentDescriptor::DynamicRouting(Box::new(SftpDynamicRoutingInfo {
        inf_ref: "HelbredstillægAnsøgningBilag_1".into(),
        sender_it_system: it_system(),
        sender_authority: CvrUrn::from_cvr(&cvr(CVR)),
        transaction_id: uuid(10),
        sender_timestamp: at("2026-11-23T10:15:00+01:00"),
        recipient_it_system: Some(uuid(60)),
        recipient_authority: CvrUrn::from_cvr(&cvr(CVR)),
        route_parameter_list: Some(RouteParameterList {
            route_parameter: vec![RouteParameter(
                crate::xml::Element::parse(
                    r#"<sftp:RouteSelectionValueDate xmlns:sftp="http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types">2026-11-23</sftp:RouteSelectionValueDate>"#,
                )
                .expect("well-formed"),
            )],
        }),
    }));
    t
}

/// A technical receipt for a transfer that succeeded.
pub fn receipt_success() -> TechnicalReceipt {
    TechnicalReceipt::success(uuid(80).to_string(), None)
}

/// A technical receipt listing errors.
pub fn receipt_errors() -> TechnicalReceipt {
    TechnicalReceipt {
        file_transfer_uuid: uuid(81).to_string(),
        senders_file_id: Some(uuid(70).to_string()),
        outcome: ReceiptOutcome::Errors(vec![
            ErrorMessage {
                error_code: 2,
                error_code_description: "FILE_NOT_FOUND".into(),
                error_description: "The file named in the trigger was not found in /OUT/".into(),
            },
            ErrorMessage {
                error_code: 3,
                error_code_description: "SIZE_MISMATCH".into(),
                error_description: "SizeInBytes does not match the uploaded file".into(),
            },
        ]),
    }
}
