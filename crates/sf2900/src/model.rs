//! The SF2900 v2 payload types (`DistributionServiceTypesV2.xsd`): the distribution context,
//! the three object types (JOURNALPOST, DOKUMENT, FORMULAR) with every optional part, routing
//! and receipts. Field order is XSD order; element names are the XSD's spelling.

use crate::codec::{DecodeError, Path, ValueError, XmlValue};
use crate::ns::V2;
use crate::types::{
    Base64Binary, Cvr, Date, DateTime, HandlingFacet, KleEmne, KlePattern, Urn, Uuid,
};
use crate::xml::{Element, Ns, Writer};
use crate::{xml_choice, xml_enum, xml_struct};

const NS: Option<Ns> = Some(V2);

xml_enum! {
    /// `ObjektTypeType`.
    pub enum ObjektType as "ObjektType" {
        /// Journal notes, with references to documents.
        Journalpost = "JOURNALPOST",
        /// A document whose file travels over the SFTP service.
        Dokument = "DOKUMENT",
        /// A form: its document and its data as XML, inline.
        Formular = "FORMULAR",
    }
}

xml_enum! {
    /// `LivscyklusKodeType`: the service knows only `Oprettet`.
    pub enum LivscyklusKode as "LivscyklusKode" {
        Oprettet = "Oprettet",
    }
}

xml_enum! {
    /// `TransportValideringsKodeType`.
    pub enum TransportValideringsKode as "TransportValideringsKode" {
        /// The message was taken.
        Ok = "OK",
        /// The message was taken, with a warning.
        Advarsel = "ADVARSEL",
        /// The message was refused.
        Fejl = "FEJL",
    }
}

xml_enum! {
    /// `ForretningsValideringsKodeType`.
    pub enum ForretningsValideringsKode as "ForretningsValideringsKode" {
        /// The platform has received the object.
        Modtaget = "MODTAGET",
        /// The object has been handed to the receiving system.
        Afleveret = "AFLEVERET",
        /// The receiving system has accepted it.
        Accepteret = "ACCEPTERET",
        /// The object was refused (by the platform or the receiver).
        Afvist = "AFVIST",
        /// Delivering the object failed.
        Fejlet = "FEJLET",
    }
}

impl ForretningsValideringsKode {
    /// AFVIST and FEJLET: the platform or the receiver did not take the object.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Afvist | Self::Fejlet)
    }
}

xml_enum! {
    /// `KvitteringstypeType`.
    pub enum Kvitteringstype as "Kvitteringstype" {
        /// The platform's technical receipt: the object reached the receiver.
        Teknisk = "Teknisk",
        /// The receiving system's business receipt: what it did with the object.
        Forretning = "Forretning",
        /// Digital Post's receipt, for an object sent as Digital Post.
        DigitalPost = "Digital post",
    }
}

xml_enum! {
    /// `VariantRolleType`.
    pub enum VariantRolle as "Rolle" {
        Variant = "Variant",
    }
}

xml_enum! {
    /// `DokumentPartRolleType`.
    pub enum DokumentPartRolle as "Rolle" {
        /// The party the document is mainly about.
        PrimaerPart = "PrimaerPart",
        /// Another party it concerns.
        SekundaerPart = "SekundaerPart",
        /// Receives a copy.
        KopiModtager = "KopiModtager",
    }
}

xml_enum! {
    /// `AktoerTypeType`.
    pub enum AktoerType as "AktoerType" {
        Organisation = "Organisation",
        OrganisationEnhed = "OrganisationEnhed",
        OrganisationFunktion = "OrganisationFunktion",
        Bruger = "Bruger",
        ItSystem = "ItSystem",
        Interessefaellesskab = "Interessefaellesskab",
    }
}

xml_enum! {
    /// `FremdriftType`.
    pub enum Fremdrift as "Fremdrift" {
        Modtaget = "Modtaget",
        Fordelt = "Fordelt",
        UnderUdarbejdelse = "UnderUdarbejdelse",
        UnderReview = "UnderReview",
        Endeligt = "Endeligt",
        Afleveret = "Afleveret",
    }
}

xml_enum! {
    /// `DokumenttypeType`.
    pub enum Dokumenttype as "Dokumenttype" {
        Faktura = "Faktura",
        Brev = "Brev",
        Notat = "Notat",
        Rapport = "Rapport",
        Dagsorden = "Dagsorden",
        Refereat = "Refereat",
        EMail = "eMail",
        Anden = "Anden",
    }
}

xml_enum! {
    /// `RetningType`.
    pub enum Retning as "Retning" {
        /// Received from outside.
        Indgaaende = "Indgaaende",
        /// Sent out.
        Udgaaende = "Udgaaende",
        /// Internal, received.
        InterntInd = "InterntInd",
        /// Internal, sent.
        InterntUd = "InterntUd",
        /// Internal.
        Internt = "Internt",
    }
}

xml_enum! {
    /// `PartObjektTypeType`.
    pub enum PartObjektType as "ObjektType" {
        Person = "Person",
        Virksomhed = "Virksomhed",
        Organisation = "Organisation",
        OrgEnhed = "OrgEnhed",
        OrgFunktion = "OrgFunktion",
        InteresseFaellesskab = "Interesse-faellesskab",
        Bruger = "Bruger",
    }
}

xml_enum! {
    /// `JournalPostRolleType`.
    pub enum JournalPostRolle as "Rolle" {
        Journalpost = "Journalpost",
    }
}

xml_enum! {
    /// `JournalPartObjekttypeType`.
    pub enum JournalPartObjekttype as "Objekttype" {
        Dokument = "Dokument",
    }
}

xml_choice! {
    /// By URN.
    /// `UUID_URN`.
    pub enum UuidUrn in NS {
        /// By UUID.
        "UUID" => Uuid(Uuid),
        /// By URN.
        "URN" => Urn(Urn),
    }
}

xml_choice! {
    /// By URN.
    /// `UUID_URN_Tekst`.
    /// By a text (a name or number), where there is no id.
    pub enum UuidUrnTekst in NS {
        /// By UUID.
        "UUID" => Uuid(Uuid),
        /// By URN.
        "URN" => Urn(Urn),
        /// By a text (a name or a number), where there is no id.
        "Tekst" => Tekst(String),
    }
}

xml_struct! {
    /// `FejlType`.
    pub struct Fejl in inherit {
        /// The error's code, as whoever reports it defines it.
        one "FejlKode" => fejl_kode: String,
        /// The error in words.
        one "FejlTekst" => fejl_tekst: String,
    }
}

xml_struct! {
    /// `FejlListeType`.
    pub struct FejlListe in inherit {
        /// The errors, one element each.
        many "Fejl" => fejl: Fejl,
    }
}

xml_struct! {
    /// `TransportkvitteringType`: the fault detail of every operation. v2 and v3 each declare it
    /// in their own namespace, so its children take the namespace of the element.
    pub struct TransportKvittering in inherit {
        /// Whether the message passed the platform's transport checks.
        one "TransportValideringsKode" => transport_validerings_kode: TransportValideringsKode,
        /// Why it did not (or what the warning is), in words.
        opt "Begrundelse" => begrundelse: String,
        /// The errors found, if listed.
        opt "FejlListe" => fejl_liste: FejlListe,
    }
}

xml_struct! {
    /// `ForretningskvitteringType`: the business receipt, synchronous and asynchronous.
    pub struct Forretningskvittering in NS {
        /// How far the object got, or that it was refused.
        one "ForretningsValideringsKode" => forretnings_validerings_kode: ForretningsValideringsKode,
        /// Whose receipt this is: the platform's technical one, the receiver's business
        /// one, or Digital Post's.
        one "Kvitteringstype" => kvitteringstype: Kvitteringstype,
        /// The reason in words, mainly for a refusal.
        opt "Begrundelse" => begrundelse: String,
        /// The errors, if listed.
        opt "FejlListe" => fejl_liste: FejlListe,
    }
}

impl Forretningskvittering {
    /// A receipt with a code and a type, and no reason or errors.
    pub fn new(kode: ForretningsValideringsKode, kvitteringstype: Kvitteringstype) -> Self {
        Self {
            forretnings_validerings_kode: kode,
            kvitteringstype,
            begrundelse: None,
            fejl_liste: None,
        }
    }
}

xml_struct! {
    /// `RoutingKLEInfo`.
    pub struct RoutingKleInfo in NS {
        /// The KLE emne (subject number) the object is routed by.
        one "RoutingKLEEmne" => routing_kle_emne: KleEmne,
        /// The KLE handling facet that narrows the route, if any.
        opt "RoutingHandlingFacet" => routing_handling_facet: HandlingFacet,
    }
}

xml_choice! {
    /// To this receiver (a modtager-aktør's UUID, as FordelingsmodtagerList names it).
    /// `RoutingValg`: route by KLE emne (and facet) or straight to a modtager-aktør.
    pub enum RoutingValg in NS {
        /// By KLE emne and, optionally, handling facet: to whoever receives that.
        "RoutingKLEEmneHandling" => KleEmneHandling(RoutingKleInfo),
        /// To this receiver (a modtager-aktør's UUID, as FordelingsmodtagerList names it).
        "RoutingModtagerAktoer" => ModtagerAktoer(Uuid),
    }
}

xml_struct! {
    /// `DistributionContextType`: who sends, how to route, and the transaction ids.
    pub struct DistributionContext in NS {
        /// The sender's (anvender's) id of this transaction, chosen before the first
        /// attempt: a resend with the same id is the same transaction.
        one "AnvenderTransaktionsID" => anvender_transaktions_id: Uuid,
        /// Assigned by the platform; echoed in every receipt.
        opt "DistributionTransktionsID" => distribution_transaktions_id: Uuid,
        /// The Digital Post message id, when the object went as Digital Post.
        opt "DigitalPostMeddelelsesID" => digital_post_meddelelses_id: String,
        /// CVR of the sending authority.
        one "AfsendendeMyndighed" => afsendende_myndighed: Cvr,
        /// CVR of the authority among whose receivers the object is routed.
        one "RoutingMyndighed" => routing_myndighed: Cvr,
        /// How the receiver is found: by KLE emne and facet, or named.
        one "RoutingValg" => routing_valg: RoutingValg,
        /// Name of the file delivered over SFTP that belongs to this object (DOKUMENT).
        opt "DokumentFilNavn" => dokument_fil_navn: String,
    }
}

impl DistributionContext {
    /// A context with the required elements; the optional ones are `None`.
    pub fn new(
        anvender_transaktions_id: Uuid,
        afsendende: Cvr,
        routing_myndighed: Cvr,
        routing_valg: RoutingValg,
    ) -> Self {
        Self {
            anvender_transaktions_id,
            distribution_transaktions_id: None,
            digital_post_meddelelses_id: None,
            afsendende_myndighed: afsendende,
            routing_myndighed,
            routing_valg,
            dokument_fil_navn: None,
        }
    }
}

xml_struct! {
    /// `anmodRequestType`: the `anmodning` of FordelingsobjektAfsend.
    pub struct Anmodning in NS {
        /// Who sends, how to route, and the transaction ids.
        one "DistributionContext" => distribution_context: DistributionContext,
        /// The object to distribute.
        one "DistributionObject" => distribution_object: DistributionObject,
    }
}

/// `DistributionObjectType`: the object type and its content, which must agree.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionObject {
    /// The object; its `ObjektType` is derived from it, so the two cannot disagree.
    pub objekt_indhold: ObjektIndhold,
}

impl DistributionObject {
    /// The object wrapping `objekt_indhold`.
    pub fn new(objekt_indhold: ObjektIndhold) -> Self {
        Self { objekt_indhold }
    }

    /// JOURNALPOST, DOKUMENT or FORMULAR: what the object holds.
    pub fn objekt_type(&self) -> ObjektType {
        match self.objekt_indhold {
            ObjektIndhold::DistributionDokument(_) => ObjektType::Dokument,
            ObjektIndhold::DistributionJournalPost(_) => ObjektType::Journalpost,
            ObjektIndhold::DistributionFormular(_) => ObjektType::Formular,
        }
    }
}

impl XmlValue for DistributionObject {
    fn write_xml(&self, w: &mut Writer, ns: Option<Ns>, name: &str) {
        w.open(ns, name);
        self.objekt_type().write_xml(w, NS, "ObjektType");
        self.objekt_indhold.write_xml(w, NS, "ObjektIndhold");
        w.close(ns, name);
    }

    fn read_xml(el: &Element, path: &Path<'_>) -> Result<Self, DecodeError> {
        crate::codec::check_sequence(
            el,
            &[
                ("ObjektType", Some(V2.uri)),
                ("ObjektIndhold", Some(V2.uri)),
            ],
            path,
        )?;
        let objekt_type: ObjektType = crate::codec::read_one(el, "ObjektType", path)?;
        let objekt_indhold: ObjektIndhold = crate::codec::read_one(el, "ObjektIndhold", path)?;
        let obj = Self { objekt_indhold };
        if obj.objekt_type() != objekt_type {
            return Err(path.child("ObjektType").inconsistent(format!(
                "says {objekt_type} but ObjektIndhold holds a {}",
                obj.objekt_type()
            )));
        }
        Ok(obj)
    }
}

xml_choice! {
    /// A journal post: notes, and references to documents.
    /// `ObjektIndholdType`. The XSD lets the choice be empty; an empty object cannot be
    /// A form: its document and its data as XML, inline.
    /// distributed, so decoding refuses it.
    pub enum ObjektIndhold in NS {
        /// A document, whose file travels over the SFTP service.
        "DistributionDokument" => DistributionDokument(DistributionDokument),
        /// A journal post: notes, and references to documents.
        "DistributionJournalPost" => DistributionJournalPost(DistributionJournalPost),
        /// A form: its document and its data as XML, inline.
        "DistributionFormular" => DistributionFormular(DistributionFormular),
    }
}

xml_struct! {
    /// `VirkningType`: who made a registration and when it applies.
    pub struct Virkning in NS {
        /// When the registration starts to apply, if not at once.
        opt "FraTidspunkt" => fra_tidspunkt: DateTime,
        /// When it stops applying (open-ended without it).
        opt "TilTidspunkt" => til_tidspunkt: DateTime,
        /// Who made it (an IT system, a user, an organisation), by UUID or URN.
        one "Aktoer" => aktoer: UuidUrn,
        /// What kind of actor `aktoer` is.
        one "AktoerType" => aktoer_type: AktoerType,
        /// A free note about the registration.
        opt "NoteTekst" => note_tekst: String,
    }
}

impl Virkning {
    /// Registered by an IT system (what the Fordeler and the PHP module use).
    pub fn it_system(uuid: Uuid) -> Self {
        Self {
            fra_tidspunkt: None,
            til_tidspunkt: None,
            aktoer: UuidUrn::Uuid(uuid),
            aktoer_type: AktoerType::ItSystem,
            note_tekst: None,
        }
    }
}

xml_struct! {
    /// `DistributionDokumentType`.
    pub struct DistributionDokument in NS {
        /// The document's UUID, chosen by the sender.
        one "ID" => id: Uuid,
        /// The KLE emne the sender proposes it be filed under.
        one "KLEEmneForslag" => kle_emne_forslag: KleEmne,
        /// The KLE handling facet the sender proposes, if any.
        opt "HandlingFacetForslag" => handling_facet_forslag: HandlingFacet,
        /// The UUID of the case (sag) the sender proposes to file it in, if any.
        opt "SagForslag" => sag_forslag: Uuid,
        /// The document itself as the document service models it: metadata, parties,
        /// variants.
        one "Registrering" => registrering: DokumentRegistrering,
    }
}

xml_struct! {
    /// `DokumentRegistreringType`.
    pub struct DokumentRegistrering in NS {
        /// When this registration was made.
        one "FraTidsPunkt" => fra_tids_punkt: DateTime,
        /// Its lifecycle state; the service knows only `Oprettet`.
        one "LivscyklusKode" => livscyklus_kode: LivscyklusKode,
        /// When it was imported from another system, if it was.
        opt "ImportTidspunkt" => import_tidspunkt: DateTime,
        /// The user who made it, when a person did.
        opt "BrugerRef" => bruger_ref: UuidUrn,
        /// The IT system that made it (the sender's).
        one "RegistreringItSystem" => registrering_it_system: UuidUrn,
        /// The document's variants and the parties it concerns.
        one "RelationListe" => relation_liste: RelationsListe,
        /// Its states (fremdrift) over time, at least one.
        many1 "TilstandsListe" => tilstands_liste: TilstandListe,
        /// Its attributes (title, type, direction, dates) over time, at least one.
        one "AttributListe" => attribut_liste: AttributterListe,
    }
}

xml_struct! {
    /// `RelationsListe`.
    pub struct RelationsListe in NS {
        /// The document's variants (the file in each format).
        one "VariantListe" => variant_liste: VariantListe,
        /// The parties it concerns (citizens, companies), if any.
        opt "DokumentPartListe" => dokument_part_liste: DokumentPartListe,
    }
}

xml_struct! {
    /// `VariantListeType`.
    pub struct VariantListe in NS {
        /// Each variant, at least one.
        many1 "Variant" => variant: Variant,
    }
}

xml_struct! {
    /// `VariantType`.
    pub struct Variant in NS {
        /// Who registered the variant and when.
        one "Virkning" => virkning: Virkning,
        /// Its role; the service knows only `Variant`.
        one "Rolle" => rolle: VariantRolle,
        /// Its index among the document's variants.
        one "Indeks" => indeks: String,
        /// What the variant is: its format and how it may be used.
        one "VariantAttributter" => variant_attributter: VariantAttributter,
        /// Its one part: the file's name, size, type and where it is.
        one "DelAttributter" => del_attributter: DelAttributter,
    }
}

xml_struct! {
    /// `VariantAttributterType`.
    pub struct VariantAttributter in NS {
        /// The variant's format, e.g. `PDF`.
        one "VariantType" => variant_type: String,
        /// The system that produced it, e.g. `OS2forms`.
        opt "Produktion" => produktion: String,
        /// Whether this variant may be published.
        opt "Offentliggoerelse" => offentliggoerelse: bool,
        /// Whether this is the variant to archive.
        opt "Arkivering" => arkivering: bool,
        /// Whether it was partly scanned from paper.
        opt "DelvistScannet" => delvist_scannet: bool,
    }
}

xml_struct! {
    /// `DelAttributterType`.
    pub struct DelAttributter in NS {
        /// What the part is, e.g. `Hele dokumentet` (the whole document).
        one "DelTekst" => del_tekst: String,
        /// Its index among the variant's parts.
        opt "Indeks" => indeks: i64,
        /// The content itself, when it travels inline.
        opt "Indhold" => indhold: String,
        /// The file's size in bytes.
        opt "Filstoerrelse" => filstoerrelse: i64,
        /// The file's MIME type.
        opt "MimeType" => mime_type: String,
        /// The scanner that produced it, if scanned.
        opt "ScannerID" => scanner_id: String,
        /// Where the file is: for a DOKUMENT, its name on the SFTP service.
        opt "Location" => location: String,
    }
}

xml_struct! {
    /// `DokumentPartListeType`.
    pub struct DokumentPartListe in NS {
        /// Each party, at least one.
        many1 "DokumentPart" => dokument_part: DokumentPart,
    }
}

xml_struct! {
    /// `DokumentPartType`.
    pub struct DokumentPart in NS {
        /// Who registered the party and when.
        one "Virkning" => virkning: Virkning,
        /// The party's role: primary, secondary, or receiving a copy.
        one "Rolle" => rolle: DokumentPartRolle,
        /// Its index among the parties.
        one "Indeks" => indeks: i64,
        /// Who the party is.
        one "Part" => part: Part,
    }
}

xml_struct! {
    /// `PartType`.
    pub struct Part in NS {
        /// What kind of party: a person, a company, an organisation, ….
        one "ObjektType" => objekt_type: PartObjektType,
        /// The party's id: a UUID, a URN (e.g. of a CPR or CVR number) or text.
        one "ReferenceID" => reference_id: UuidUrnTekst,
    }
}

xml_struct! {
    /// `TilstandListeType`.
    pub struct TilstandListe in NS {
        /// Each state, at least one.
        many1 "Tilstand" => tilstand: Tilstand,
    }
}

xml_struct! {
    /// `TilstandType`.
    pub struct Tilstand in NS {
        /// How far the document has come, e.g. `Endeligt` (final).
        one "Fremdrift" => fremdrift: Fremdrift,
        /// Who set the state and when it applies.
        one "Virkning" => virkning: Virkning,
    }
}

xml_struct! {
    /// `AttributterListeType`.
    pub struct AttributterListe in NS {
        /// Each set of attributes, at least one.
        many1 "Attributter" => attributter: Attributter,
    }
}

xml_struct! {
    /// `AttributterType`.
    pub struct Attributter in NS {
        /// The key people use for the document (a reference they can quote).
        one "BrugervendtNoegleTekst" => brugervendt_noegle_tekst: String,
        /// The document's title.
        one "TitelTekst" => titel_tekst: String,
        /// A description of the document.
        one "BeskrivelseTekst" => beskrivelse_tekst: String,
        /// What kind of document it is (a letter, a note, an invoice, …).
        one "Dokumenttype" => dokumenttype: Dokumenttype,
        /// Its direction: incoming, outgoing or internal.
        one "Retning" => retning: Retning,
        /// The letter's date.
        one "Brevdato" => brevdato: Date,
        /// A deadline that comes with it, if any.
        opt "Fristdato" => fristdato: Date,
        /// Its version number.
        opt "VersionIdentifikator" => version_identifikator: i64,
        /// Its sub-version number (the XSD spells it `Identificator`).
        opt "UnderversionIdentificator" => underversion_identificator: i64,
        /// Its retention code (kassationskode): whether and when it may be discarded.
        opt "KassationskodeTekst" => kassationskode_tekst: String,
        /// Who set these attributes and when they apply.
        one "Virkning" => virkning: Virkning,
        /// Set when the document is exempt from public access.
        opt "OffentlighedUndtaget" => offentlighed_undtaget: OffentlighedUndtaget,
    }
}

xml_struct! {
    /// `OffentlighedUndtagetType`.
    pub struct OffentlighedUndtaget in NS {
        /// The title shown instead of the real one.
        one "TitelAlternativTekst" => titel_alternativ_tekst: String,
        /// The legal basis of the exemption.
        one "HjemmelTekst" => hjemmel_tekst: String,
    }
}

xml_struct! {
    /// `DistributionJournalPostType`.
    pub struct DistributionJournalPost in NS {
        /// The journal post's UUID, chosen by the sender.
        one "ID" => id: Uuid,
        /// The KLE emne the sender proposes it be filed under.
        one "KLEEmneForslag" => kle_emne_forslag: KleEmne,
        /// The KLE handling facet the sender proposes, if any.
        opt "HandlingFacetForslag" => handling_facet_forslag: HandlingFacet,
        /// The UUID of the case (sag) the sender proposes to file it in, if any.
        opt "SagForslag" => sag_forslag: Uuid,
        /// The party the journal post concerns, if given.
        opt "PartAngivelse" => part_angivelse: Part,
        /// The journal post itself: its entries and the documents they refer to.
        one "Registrering" => registrering: JournalPostRegistrering,
    }
}

xml_struct! {
    /// `JournalPostRegistreringType`.
    pub struct JournalPostRegistrering in NS {
        /// When this registration was made.
        one "FraTidsPunkt" => fra_tids_punkt: DateTime,
        /// Its lifecycle state; the service knows only `Oprettet`.
        one "LivscyklusKode" => livscyklus_kode: LivscyklusKode,
        /// When it was imported from another system, if it was.
        opt "ImportTidspunkt" => import_tidspunkt: DateTime,
        /// The user who made it, when a person did.
        opt "BrugerRef" => bruger_ref: UuidUrn,
        /// The IT system that made it (the sender's).
        one "RegistreringItSystem" => registrering_it_system: UuidUrn,
        /// The journal post's entries.
        one "RelationListe" => relation_liste: JournalPostRelationsListe,
    }
}

xml_struct! {
    /// `JournalPostRelationsListeType`.
    pub struct JournalPostRelationsListe in NS {
        /// Each entry, at least one.
        many1 "JournalPost" => journal_post: JournalPost,
    }
}

xml_struct! {
    /// `JournalPostType`.
    pub struct JournalPost in NS {
        /// Who registered the entry and when.
        one "Virkning" => virkning: Virkning,
        /// Its role; the service knows only `Journalpost`.
        one "Rolle" => rolle: JournalPostRolle,
        /// Its index among the entries.
        one "Indeks" => indeks: String,
        /// The document the entry refers to, if any.
        opt "Dokument" => dokument: JournalPart,
        /// The entry's document title and public-access exemption, if any.
        opt "JournalpostAttributter" => journalpost_attributter: JournalpostEgenskaber,
        /// The journal note itself.
        one "JournalnotatAttributter" => journalnotat_attributter: JournalNotatEgenskaber,
    }
}

xml_struct! {
    /// `JournalpostEgenskaberType`.
    pub struct JournalpostEgenskaber in NS {
        /// The title of the document the entry concerns.
        opt "Dokumenttitel" => dokumenttitel: String,
        /// Set when the entry is exempt from public access.
        opt "OffentlighedUndtaget" => offentlighed_undtaget: OffentlighedUndtaget,
    }
}

xml_struct! {
    /// `JournalNotatEgenskaberType`.
    pub struct JournalNotatEgenskaber in NS {
        /// The note's title.
        opt "Titel" => titel: String,
        /// The note's text.
        one "Notat" => notat: String,
    }
}

xml_struct! {
    /// `JournalPartType`.
    pub struct JournalPart in NS {
        /// What is referred to; the service knows only `Dokument`.
        one "Objekttype" => objekttype: JournalPartObjekttype,
        /// The document referred to, by UUID or URN.
        one "ReferenceID" => reference_id: UuidUrn,
    }
}

xml_struct! {
    /// `DistributionFormularType`.
    pub struct DistributionFormular in NS {
        /// The form object's UUID, chosen by the sender.
        one "ID" => id: Uuid,
        /// The KLE emne the sender proposes it be filed under.
        one "KLEEmneForslag" => kle_emne_forslag: KleEmne,
        /// The KLE handling facet the sender proposes, if any.
        opt "HandlingFacetForslag" => handling_facet_forslag: HandlingFacet,
        /// The form, as a document and as XML.
        one "Meddelelse" => meddelelse: Meddelelse,
    }
}

xml_struct! {
    /// `MeddelelseType`.
    pub struct Meddelelse in NS {
        /// Which form this is (its file specification, e.g.
        /// `HelbredstillægAnsøgningFormular_1`), by which receivers tell forms apart.
        one "FormularType" => formular_type: String,
        /// The form's content.
        one "Formular" => formular: Formular,
    }
}

xml_struct! {
    /// `FormularType`: the form as a document (usually a PDF) and as XML.
    pub struct Formular in NS {
        /// The form's title.
        one "TitelTekst" => titel_tekst: String,
        /// The format of `formular_indhold`, e.g. `pdf`.
        one "FormatNavn" => format_navn: String,
        /// The form as a document (usually a PDF); Base64 in the XML.
        one "FormularIndhold" => formular_indhold: Base64Binary,
        /// The form's data as XML (the template's rendering, e.g. `<SP241>`).
        one "FormularXML" => formular_xml: FormularXml,
    }
}

/// `FormularXMLType`: exactly one element of any namespace (usually none, e.g. `<SP241>`),
/// carried as a tree so that it is re-emitted with correct namespace declarations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormularXml(pub Element);

impl FormularXml {
    /// Parses rendered form XML (an optional XML declaration, then one root element).
    pub fn parse(xml: &str) -> Result<Self, ValueError> {
        Element::parse(xml)
            .map(Self)
            .map_err(|e| ValueError::new("FormularXML", e.to_string()))
    }

    /// The form XML's root element.
    pub fn root(&self) -> &Element {
        &self.0
    }
}

impl XmlValue for FormularXml {
    fn write_xml(&self, w: &mut Writer, ns: Option<Ns>, name: &str) {
        w.open(ns, name);
        w.element_tree(&self.0);
        w.close(ns, name);
    }

    fn read_xml(el: &Element, path: &Path<'_>) -> Result<Self, DecodeError> {
        let mut it = el.elements();
        match (it.next(), it.next()) {
            (Some(root), None) => Ok(Self(root.clone())),
            (None, _) => Err(path.invalid(ValueError::new(
                "FormularXML",
                "must contain one element, found none",
            ))),
            (Some(_), Some(_)) => Err(path.invalid(ValueError::new(
                "FormularXML",
                "must contain exactly one element, found several",
            ))),
        }
    }
}

xml_struct! {
    /// `RoutingType` (FordelingsmodtagerValider request).
    pub struct Routing in NS {
        /// CVR of the authority the receiver belongs to.
        one "RoutingMyndighed" => routing_myndighed: Cvr,
        /// The receiver (modtager-aktør) asked about, by UUID.
        one "RoutingModtagerAktoer" => routing_modtager_aktoer: Uuid,
    }
}

xml_struct! {
    /// `RoutingListeType`.
    pub struct RoutingListe in NS {
        /// Each receiver to ask about, at least one.
        many1 "Routing" => routing: Routing,
    }
}

xml_struct! {
    /// `RoutingResponseType`.
    pub struct RoutingModtager in NS {
        /// CVR of the authority the receiver belongs to.
        one "RoutingMyndighed" => routing_myndighed: Cvr,
        /// The receiver asked about, by UUID.
        one "RoutingModtagerAktoer" => routing_modtager_aktoer: Uuid,
        /// Whether it can receive objects from the sender.
        one "KanModtage" => kan_modtage: bool,
    }
}

xml_struct! {
    /// `RoutingResposneListeType` (sic).
    pub struct RoutingResposneListe in NS {
        /// The answer for each receiver asked about.
        many1 "RoutingModtager" => routing_modtager: RoutingModtager,
    }
}

xml_struct! {
    /// `ModtagerMedEndpointType`: a receiving system from FordelingsmodtagerList. Decoded
    /// leniently: the real service omits `SystemMyndighed` and answers KLE with wildcards.
    pub struct System in NS {
        /// CVR of the authority the system belongs to (the real service leaves it out).
        opt "SystemMyndighed" => system_myndighed: Cvr,
        /// The receiving system's UUID: what a RoutingModtagerAktoer names.
        one "SystemUUID" => system_uuid: Uuid,
        /// Its name, for people.
        one "SystemNavn" => system_navn: String,
        /// The KLE emnes it receives, possibly with wildcards (`01.01.*`).
        one "RoutingKLEEmne" => routing_kle_emne: KlePattern,
        /// The handling facet it receives, where it narrows by one.
        opt "RoutingHandlingFacet" => routing_handling_facet: HandlingFacet,
    }
}

xml_struct! {
    /// `tilgaengeligeModtagereType`.
    pub struct Systemer in NS {
        /// The receiving systems; none when no system receives the object.
        many "System" => system: System,
    }
}

xml_struct! {
    /// `FordelingsmodtagerListRequest` (the type of the v3 `Routing` element).
    pub struct RoutingForespoergsel in NS {
        /// CVR of the authority that will send.
        one "AfsendendeMyndighed" => afsendende_myndighed: Cvr,
        /// CVR of the authority whose receivers are asked for.
        one "RoutingMyndighed" => routing_myndighed: Cvr,
        /// The KLE emne of the object to route.
        one "RoutingKLEEmne" => routing_kle_emne: KleEmne,
        /// Its handling facet, if any.
        opt "RoutingHandlingFacet" => routing_handling_facet: HandlingFacet,
    }
}
