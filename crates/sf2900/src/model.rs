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
        Journalpost = "JOURNALPOST",
        Dokument = "DOKUMENT",
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
        Ok = "OK",
        Advarsel = "ADVARSEL",
        Fejl = "FEJL",
    }
}

xml_enum! {
    /// `ForretningsValideringsKodeType`.
    pub enum ForretningsValideringsKode as "ForretningsValideringsKode" {
        Modtaget = "MODTAGET",
        Afleveret = "AFLEVERET",
        Accepteret = "ACCEPTERET",
        Afvist = "AFVIST",
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
        Teknisk = "Teknisk",
        Forretning = "Forretning",
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
        PrimaerPart = "PrimaerPart",
        SekundaerPart = "SekundaerPart",
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
        Indgaaende = "Indgaaende",
        Udgaaende = "Udgaaende",
        InterntInd = "InterntInd",
        InterntUd = "InterntUd",
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
    /// `UUID_URN`.
    pub enum UuidUrn in NS {
        "UUID" => Uuid(Uuid),
        "URN" => Urn(Urn),
    }
}

xml_choice! {
    /// `UUID_URN_Tekst`.
    pub enum UuidUrnTekst in NS {
        "UUID" => Uuid(Uuid),
        "URN" => Urn(Urn),
        "Tekst" => Tekst(String),
    }
}

xml_struct! {
    /// `FejlType`.
    pub struct Fejl in inherit {
        one "FejlKode" => fejl_kode: String,
        one "FejlTekst" => fejl_tekst: String,
    }
}

xml_struct! {
    /// `FejlListeType`.
    pub struct FejlListe in inherit {
        many "Fejl" => fejl: Fejl,
    }
}

xml_struct! {
    /// `TransportkvitteringType`: the fault detail of every operation. v2 and v3 each declare it
    /// in their own namespace, so its children take the namespace of the element.
    pub struct TransportKvittering in inherit {
        one "TransportValideringsKode" => transport_validerings_kode: TransportValideringsKode,
        opt "Begrundelse" => begrundelse: String,
        opt "FejlListe" => fejl_liste: FejlListe,
    }
}

xml_struct! {
    /// `ForretningskvitteringType`: the business receipt, synchronous and asynchronous.
    pub struct Forretningskvittering in NS {
        one "ForretningsValideringsKode" => forretnings_validerings_kode: ForretningsValideringsKode,
        one "Kvitteringstype" => kvitteringstype: Kvitteringstype,
        opt "Begrundelse" => begrundelse: String,
        opt "FejlListe" => fejl_liste: FejlListe,
    }
}

impl Forretningskvittering {
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
        one "RoutingKLEEmne" => routing_kle_emne: KleEmne,
        opt "RoutingHandlingFacet" => routing_handling_facet: HandlingFacet,
    }
}

xml_choice! {
    /// `RoutingValg`: route by KLE emne (and facet) or straight to a modtager-aktør.
    pub enum RoutingValg in NS {
        "RoutingKLEEmneHandling" => KleEmneHandling(RoutingKleInfo),
        "RoutingModtagerAktoer" => ModtagerAktoer(Uuid),
    }
}

xml_struct! {
    /// `DistributionContextType`: who sends, how to route, and the transaction ids.
    pub struct DistributionContext in NS {
        one "AnvenderTransaktionsID" => anvender_transaktions_id: Uuid,
        /// Assigned by the platform; echoed in every receipt.
        opt "DistributionTransktionsID" => distribution_transaktions_id: Uuid,
        opt "DigitalPostMeddelelsesID" => digital_post_meddelelses_id: String,
        one "AfsendendeMyndighed" => afsendende_myndighed: Cvr,
        one "RoutingMyndighed" => routing_myndighed: Cvr,
        one "RoutingValg" => routing_valg: RoutingValg,
        /// Name of the file delivered over SFTP that belongs to this object (DOKUMENT).
        opt "DokumentFilNavn" => dokument_fil_navn: String,
    }
}

impl DistributionContext {
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
        one "DistributionContext" => distribution_context: DistributionContext,
        one "DistributionObject" => distribution_object: DistributionObject,
    }
}

/// `DistributionObjectType`: the object type and its content, which must agree.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionObject {
    pub objekt_indhold: ObjektIndhold,
}

impl DistributionObject {
    pub fn new(objekt_indhold: ObjektIndhold) -> Self {
        Self { objekt_indhold }
    }

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
    /// `ObjektIndholdType`. The XSD lets the choice be empty; an empty object cannot be
    /// distributed, so decoding refuses it.
    pub enum ObjektIndhold in NS {
        "DistributionDokument" => DistributionDokument(DistributionDokument),
        "DistributionJournalPost" => DistributionJournalPost(DistributionJournalPost),
        "DistributionFormular" => DistributionFormular(DistributionFormular),
    }
}

xml_struct! {
    /// `VirkningType`: who made a registration and when it applies.
    pub struct Virkning in NS {
        opt "FraTidspunkt" => fra_tidspunkt: DateTime,
        opt "TilTidspunkt" => til_tidspunkt: DateTime,
        one "Aktoer" => aktoer: UuidUrn,
        one "AktoerType" => aktoer_type: AktoerType,
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
        one "ID" => id: Uuid,
        one "KLEEmneForslag" => kle_emne_forslag: KleEmne,
        opt "HandlingFacetForslag" => handling_facet_forslag: HandlingFacet,
        opt "SagForslag" => sag_forslag: Uuid,
        one "Registrering" => registrering: DokumentRegistrering,
    }
}

xml_struct! {
    /// `DokumentRegistreringType`.
    pub struct DokumentRegistrering in NS {
        one "FraTidsPunkt" => fra_tids_punkt: DateTime,
        one "LivscyklusKode" => livscyklus_kode: LivscyklusKode,
        opt "ImportTidspunkt" => import_tidspunkt: DateTime,
        opt "BrugerRef" => bruger_ref: UuidUrn,
        one "RegistreringItSystem" => registrering_it_system: UuidUrn,
        one "RelationListe" => relation_liste: RelationsListe,
        many1 "TilstandsListe" => tilstands_liste: TilstandListe,
        one "AttributListe" => attribut_liste: AttributterListe,
    }
}

xml_struct! {
    /// `RelationsListe`.
    pub struct RelationsListe in NS {
        one "VariantListe" => variant_liste: VariantListe,
        opt "DokumentPartListe" => dokument_part_liste: DokumentPartListe,
    }
}

xml_struct! {
    /// `VariantListeType`.
    pub struct VariantListe in NS {
        many1 "Variant" => variant: Variant,
    }
}

xml_struct! {
    /// `VariantType`.
    pub struct Variant in NS {
        one "Virkning" => virkning: Virkning,
        one "Rolle" => rolle: VariantRolle,
        one "Indeks" => indeks: String,
        one "VariantAttributter" => variant_attributter: VariantAttributter,
        one "DelAttributter" => del_attributter: DelAttributter,
    }
}

xml_struct! {
    /// `VariantAttributterType`.
    pub struct VariantAttributter in NS {
        one "VariantType" => variant_type: String,
        opt "Produktion" => produktion: String,
        opt "Offentliggoerelse" => offentliggoerelse: bool,
        opt "Arkivering" => arkivering: bool,
        opt "DelvistScannet" => delvist_scannet: bool,
    }
}

xml_struct! {
    /// `DelAttributterType`.
    pub struct DelAttributter in NS {
        one "DelTekst" => del_tekst: String,
        opt "Indeks" => indeks: i64,
        opt "Indhold" => indhold: String,
        opt "Filstoerrelse" => filstoerrelse: i64,
        opt "MimeType" => mime_type: String,
        opt "ScannerID" => scanner_id: String,
        opt "Location" => location: String,
    }
}

xml_struct! {
    /// `DokumentPartListeType`.
    pub struct DokumentPartListe in NS {
        many1 "DokumentPart" => dokument_part: DokumentPart,
    }
}

xml_struct! {
    /// `DokumentPartType`.
    pub struct DokumentPart in NS {
        one "Virkning" => virkning: Virkning,
        one "Rolle" => rolle: DokumentPartRolle,
        one "Indeks" => indeks: i64,
        one "Part" => part: Part,
    }
}

xml_struct! {
    /// `PartType`.
    pub struct Part in NS {
        one "ObjektType" => objekt_type: PartObjektType,
        one "ReferenceID" => reference_id: UuidUrnTekst,
    }
}

xml_struct! {
    /// `TilstandListeType`.
    pub struct TilstandListe in NS {
        many1 "Tilstand" => tilstand: Tilstand,
    }
}

xml_struct! {
    /// `TilstandType`.
    pub struct Tilstand in NS {
        one "Fremdrift" => fremdrift: Fremdrift,
        one "Virkning" => virkning: Virkning,
    }
}

xml_struct! {
    /// `AttributterListeType`.
    pub struct AttributterListe in NS {
        many1 "Attributter" => attributter: Attributter,
    }
}

xml_struct! {
    /// `AttributterType`.
    pub struct Attributter in NS {
        one "BrugervendtNoegleTekst" => brugervendt_noegle_tekst: String,
        one "TitelTekst" => titel_tekst: String,
        one "BeskrivelseTekst" => beskrivelse_tekst: String,
        one "Dokumenttype" => dokumenttype: Dokumenttype,
        one "Retning" => retning: Retning,
        one "Brevdato" => brevdato: Date,
        opt "Fristdato" => fristdato: Date,
        opt "VersionIdentifikator" => version_identifikator: i64,
        opt "UnderversionIdentificator" => underversion_identificator: i64,
        opt "KassationskodeTekst" => kassationskode_tekst: String,
        one "Virkning" => virkning: Virkning,
        opt "OffentlighedUndtaget" => offentlighed_undtaget: OffentlighedUndtaget,
    }
}

xml_struct! {
    /// `OffentlighedUndtagetType`.
    pub struct OffentlighedUndtaget in NS {
        one "TitelAlternativTekst" => titel_alternativ_tekst: String,
        one "HjemmelTekst" => hjemmel_tekst: String,
    }
}

xml_struct! {
    /// `DistributionJournalPostType`.
    pub struct DistributionJournalPost in NS {
        one "ID" => id: Uuid,
        one "KLEEmneForslag" => kle_emne_forslag: KleEmne,
        opt "HandlingFacetForslag" => handling_facet_forslag: HandlingFacet,
        opt "SagForslag" => sag_forslag: Uuid,
        opt "PartAngivelse" => part_angivelse: Part,
        one "Registrering" => registrering: JournalPostRegistrering,
    }
}

xml_struct! {
    /// `JournalPostRegistreringType`.
    pub struct JournalPostRegistrering in NS {
        one "FraTidsPunkt" => fra_tids_punkt: DateTime,
        one "LivscyklusKode" => livscyklus_kode: LivscyklusKode,
        opt "ImportTidspunkt" => import_tidspunkt: DateTime,
        opt "BrugerRef" => bruger_ref: UuidUrn,
        one "RegistreringItSystem" => registrering_it_system: UuidUrn,
        one "RelationListe" => relation_liste: JournalPostRelationsListe,
    }
}

xml_struct! {
    /// `JournalPostRelationsListeType`.
    pub struct JournalPostRelationsListe in NS {
        many1 "JournalPost" => journal_post: JournalPost,
    }
}

xml_struct! {
    /// `JournalPostType`.
    pub struct JournalPost in NS {
        one "Virkning" => virkning: Virkning,
        one "Rolle" => rolle: JournalPostRolle,
        one "Indeks" => indeks: String,
        opt "Dokument" => dokument: JournalPart,
        opt "JournalpostAttributter" => journalpost_attributter: JournalpostEgenskaber,
        one "JournalnotatAttributter" => journalnotat_attributter: JournalNotatEgenskaber,
    }
}

xml_struct! {
    /// `JournalpostEgenskaberType`.
    pub struct JournalpostEgenskaber in NS {
        opt "Dokumenttitel" => dokumenttitel: String,
        opt "OffentlighedUndtaget" => offentlighed_undtaget: OffentlighedUndtaget,
    }
}

xml_struct! {
    /// `JournalNotatEgenskaberType`.
    pub struct JournalNotatEgenskaber in NS {
        opt "Titel" => titel: String,
        one "Notat" => notat: String,
    }
}

xml_struct! {
    /// `JournalPartType`.
    pub struct JournalPart in NS {
        one "Objekttype" => objekttype: JournalPartObjekttype,
        one "ReferenceID" => reference_id: UuidUrn,
    }
}

xml_struct! {
    /// `DistributionFormularType`.
    pub struct DistributionFormular in NS {
        one "ID" => id: Uuid,
        one "KLEEmneForslag" => kle_emne_forslag: KleEmne,
        opt "HandlingFacetForslag" => handling_facet_forslag: HandlingFacet,
        one "Meddelelse" => meddelelse: Meddelelse,
    }
}

xml_struct! {
    /// `MeddelelseType`.
    pub struct Meddelelse in NS {
        one "FormularType" => formular_type: String,
        one "Formular" => formular: Formular,
    }
}

xml_struct! {
    /// `FormularType`: the form as a document (usually a PDF) and as XML.
    pub struct Formular in NS {
        one "TitelTekst" => titel_tekst: String,
        one "FormatNavn" => format_navn: String,
        one "FormularIndhold" => formular_indhold: Base64Binary,
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
        one "RoutingMyndighed" => routing_myndighed: Cvr,
        one "RoutingModtagerAktoer" => routing_modtager_aktoer: Uuid,
    }
}

xml_struct! {
    /// `RoutingListeType`.
    pub struct RoutingListe in NS {
        many1 "Routing" => routing: Routing,
    }
}

xml_struct! {
    /// `RoutingResponseType`.
    pub struct RoutingModtager in NS {
        one "RoutingMyndighed" => routing_myndighed: Cvr,
        one "RoutingModtagerAktoer" => routing_modtager_aktoer: Uuid,
        one "KanModtage" => kan_modtage: bool,
    }
}

xml_struct! {
    /// `RoutingResposneListeType` (sic).
    pub struct RoutingResposneListe in NS {
        many1 "RoutingModtager" => routing_modtager: RoutingModtager,
    }
}

xml_struct! {
    /// `ModtagerMedEndpointType`: a receiving system from FordelingsmodtagerList. Decoded
    /// leniently: the real service omits `SystemMyndighed` and answers KLE with wildcards.
    pub struct System in NS {
        opt "SystemMyndighed" => system_myndighed: Cvr,
        one "SystemUUID" => system_uuid: Uuid,
        one "SystemNavn" => system_navn: String,
        one "RoutingKLEEmne" => routing_kle_emne: KlePattern,
        opt "RoutingHandlingFacet" => routing_handling_facet: HandlingFacet,
    }
}

xml_struct! {
    /// `tilgaengeligeModtagereType`.
    pub struct Systemer in NS {
        many "System" => system: System,
    }
}

xml_struct! {
    /// `FordelingsmodtagerListRequest` (the type of the v3 `Routing` element).
    pub struct RoutingForespoergsel in NS {
        one "AfsendendeMyndighed" => afsendende_myndighed: Cvr,
        one "RoutingMyndighed" => routing_myndighed: Cvr,
        one "RoutingKLEEmne" => routing_kle_emne: KleEmne,
        opt "RoutingHandlingFacet" => routing_handling_facet: HandlingFacet,
    }
}
