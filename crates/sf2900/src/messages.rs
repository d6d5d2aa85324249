//! The messages of the service: the four v3 operations of the platform port
//! (`DistributionServiceMsg.xsd`), the v2 callbacks (`DistributionServiceMsgV2.xsd`), the
//! Serviceplatformen contexts and faults. Each message is a [`Message`] with its root element.

use crate::codec::{DecodeError, Message, Path, ValueError, XmlValue};
use crate::model::{
    Anmodning, DistributionContext, Forretningskvittering, RoutingForespoergsel, RoutingListe,
    RoutingResposneListe, Systemer, TransportKvittering,
};
use crate::ns::{
    AUTHORITY_CONTEXT, CALL_CONTEXT, SERVICEPLATFORM_FAULT, V2, V2_MESSAGE, V3, V3_MESSAGE,
};
use crate::types::Cvr;
use crate::xml::{Element, Ns, Writer};
use crate::xml_struct;

const AUTH: Option<Ns> = Some(AUTHORITY_CONTEXT);
const CCTX: Option<Ns> = Some(CALL_CONTEXT);
const V3NS: Option<Ns> = Some(V3);
const V2NS: Option<Ns> = Some(V2);

xml_struct! {
    /// `AuthorityContext`: the municipality the call is made for. Serviceplatformen checks it
    /// against the service agreements of the calling certificate.
    pub struct AuthorityContext in AUTH {
        /// CVR of the municipality the call is made for.
        one "MunicipalityCVR" => municipality_cvr: Cvr,
    }
}

impl AuthorityContext {
    /// The context for a call on behalf of the municipality `municipality_cvr`.
    pub fn new(municipality_cvr: Cvr) -> Self {
        Self { municipality_cvr }
    }
}

xml_struct! {
    /// `CallContext`: optional caller information, each at most 255 characters.
    pub struct CallContext in CCTX {
        /// The user the call is made on behalf of, if any.
        opt "OnBehalfOfUser" => on_behalf_of_user: String,
        /// The caller's own id of the call, to find it on both sides.
        opt "CallersServiceCallIdentifier" => callers_service_call_identifier: String,
        /// Accounting information, as agreed with the platform.
        opt "AccountingInfo" => accounting_info: String,
    }
}

impl CallContext {
    /// A call context; each value may have at most 255 characters, as the XSD allows.
    pub fn new(
        on_behalf_of_user: Option<String>,
        callers_service_call_identifier: Option<String>,
        accounting_info: Option<String>,
    ) -> Result<Self, ValueError> {
        for (what, v) in [
            ("OnBehalfOfUser", &on_behalf_of_user),
            (
                "CallersServiceCallIdentifier",
                &callers_service_call_identifier,
            ),
            ("AccountingInfo", &accounting_info),
        ] {
            if let Some(v) = v {
                crate::types::check_max_len(what, v, 255)?;
            }
        }
        Ok(Self {
            on_behalf_of_user,
            callers_service_call_identifier,
            accounting_info,
        })
    }
}

/// Declares a message: a struct via [`xml_struct!`] plus its root element and namespaces.
macro_rules! message {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, root $root_ns:ident $root:literal, declare $decl:ident, children $ns:ident {
            $( $(#[$fmeta:meta])* $card:ident $xml:literal $(in $fns:expr)? => $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        xml_struct! {
            $(#[$meta])*
            pub struct $name in $ns {
                $( $(#[$fmeta])* $card $xml $(in $fns)? => $field: $ty, )*
            }
        }

        impl Message for $name {
            const NS: Ns = $root_ns;
            const ROOT: &'static str = $root;
            fn namespaces() -> &'static [Ns] {
                $decl
            }
        }
    };
}

message! {
    /// FordelingsobjektAfsend: hand a distribution object to the Fordelingskomponent.
    pub struct FordelingsobjektAfsendRequest, root V3 "FordelingsobjektAfsendRequest", declare V3_MESSAGE, children V3NS {
        /// Optional information about the caller and the call.
        opt "CallContext" in CCTX => call_context: CallContext,
        /// The municipality the call is made for; the platform checks it against
        /// the certificate's service agreements.
        opt "AuthorityContext" in AUTH => authority_context: AuthorityContext,
        /// The object and its distribution context.
        one "anmodning" => anmodning: Anmodning,
    }
}

message! {
    /// The synchronous answer: a business receipt and the context with the platform's
    /// DistributionTransktionsID.
    pub struct FordelingsobjektAfsendResponse, root V3 "FordelingsobjektAfsendResponse", declare V3_MESSAGE, children V3NS {
        /// The platform's receipt: whether it took the object.
        one "ForretningsKvittering" => forretnings_kvittering: Forretningskvittering,
        /// The request's context with the platform's DistributionTransktionsID.
        one "DistributionContext" => distribution_context: DistributionContext,
    }
}

message! {
    /// FordelingskvitteringModtag: a *modtager* reports its business receipt to the platform.
    pub struct FordelingskvitteringModtagRequest, root V3 "FordelingskvitteringModtagRequest", declare V3_MESSAGE, children V3NS {
        /// Optional information about the caller and the call.
        opt "CallContext" in CCTX => call_context: CallContext,
        /// The municipality the call is made for; the platform checks it against
        /// the certificate's service agreements.
        opt "AuthorityContext" in AUTH => authority_context: AuthorityContext,
        /// The receiver's receipt for the object.
        one "Forretningskvittering" => forretningskvittering: Forretningskvittering,
        /// The object's context, with the DistributionTransktionsID that names it.
        one "DistributionContext" => distribution_context: DistributionContext,
    }
}

message! {
    /// Empty answer to FordelingskvitteringModtag.
    pub struct FordelingskvitteringModtagResponse, root V3 "FordelingskvitteringModtagResponse", declare V3_MESSAGE, children V3NS {}
}

message! {
    /// FordelingsmodtagerList: which systems receive objects for this KLE emne and facet.
    pub struct FordelingsmodtagerListRequest, root V3 "FordelingsmodtagerListRequest", declare V3_MESSAGE, children V3NS {
        /// Optional information about the caller and the call.
        opt "CallContext" in CCTX => call_context: CallContext,
        /// The municipality the call is made for; the platform checks it against
        /// the certificate's service agreements.
        opt "AuthorityContext" in AUTH => authority_context: AuthorityContext,
        /// What is to be routed, and by whom to whom.
        one "Routing" => routing: RoutingForespoergsel,
    }
}

message! {
    /// The answer to FordelingsmodtagerList: the systems that receive such objects.
    pub struct FordelingsmodtagerListResponse, root V3 "FordelingsmodtagerListResponse", declare V3_MESSAGE, children V3NS {
        /// The systems that receive such objects.
        one "Systemer" => systemer: Systemer,
    }
}

message! {
    /// FordelingsmodtagerValider: can these modtager-aktører receive from this sender?
    pub struct FordelingsmodtagerValiderRequest, root V3 "FordelingsmodtagerValiderRequest", declare V3_MESSAGE, children V3NS {
        /// Optional information about the caller and the call.
        opt "CallContext" in CCTX => call_context: CallContext,
        /// The municipality the call is made for; the platform checks it against
        /// the certificate's service agreements.
        opt "AuthorityContext" in AUTH => authority_context: AuthorityContext,
        /// CVR of the authority that will send.
        one "AfsendendeMyndighed" => afsendende_myndighed: Cvr,
        /// The receivers to check.
        one "RoutingListe" => routing_liste: RoutingListe,
    }
}

message! {
    /// The answer to FordelingsmodtagerValider: for each receiver, whether it can receive.
    pub struct FordelingsmodtagerValiderResponse, root V3 "FordelingsmodtagerValiderResponse", declare V3_MESSAGE, children V3NS {
        /// The answer for each receiver.
        one "RoutingListe" => routing_liste: RoutingResposneListe,
    }
}

message! {
    /// The asynchronous receipt the platform sends to the anvender's endpoint (v2 callback).
    pub struct FordelingskvitteringModtagAnvenderRequest, root V2 "FordelingskvitteringModtagAnvenderRequest", declare V2_MESSAGE, children V2NS {
        /// The receipt (technical or business) for the object.
        one "Forretningskvittering" => forretningskvittering: Forretningskvittering,
        /// The object's context, by which the anvender finds its delivery.
        one "DistributionContext" => distribution_context: DistributionContext,
    }
}

message! {
    /// What the platform sends to a *modtager* (the receiving system's port, v2).
    pub struct FordelingsobjektModtagRequest, root V2 "FordelingsobjektModtagRequest", declare V2_MESSAGE, children V2NS {
        /// The object and its distribution context.
        one "anmodning" => anmodning: Anmodning,
    }
}

message! {
    /// The modtager's synchronous business receipt.
    pub struct FordelingsobjektModtagResponse, root V2 "FordelingsobjektModtagResponse", declare V2_MESSAGE, children V2NS {
        /// Whether the receiver took the object.
        one "ForretningsKvittering" => forretnings_kvittering: Forretningskvittering,
    }
}

message! {
    /// Empty answer of the anvender's receipt endpoint.
    pub struct FordelingskvitteringModtagAnvenderResponse, root V2 "FordelingskvitteringModtagAnvenderResponse", declare V2_MESSAGE, children V2NS {}
}

/// `TransportKvittering` as a fault detail: v3 on the platform port, v2 on the callbacks.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportKvitteringFault {
    /// The port it came from or goes to, which decides its namespace.
    pub version: PortVersion,
    /// The receipt itself.
    pub kvittering: TransportKvittering,
}

/// Which port a TransportKvittering belongs to (it decides its namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortVersion {
    /// The platform port (`…/DistributionService/3/types`).
    V3,
    /// The anvender/modtager callback ports (`…/DistributionService/2/types`).
    V2,
}

impl TransportKvitteringFault {
    /// Its element name inside the SOAP fault's `detail`.
    pub const ROOT: &'static str = "TransportKvittering";

    /// Its namespace: v3 or v2, by port.
    pub fn ns(&self) -> Ns {
        match self.version {
            PortVersion::V3 => V3,
            PortVersion::V2 => V2,
        }
    }

    /// Writes it as the fault detail's element, declaring its namespace on it.
    pub fn write(&self, w: &mut Writer) {
        let ns = self.ns();
        w.declare_on_next(match self.version {
            PortVersion::V3 => &[V3],
            PortVersion::V2 => &[V2],
        });
        self.kvittering.write_xml(w, Some(ns), Self::ROOT);
    }

    /// Reads it from the fault detail's element; the namespace tells the port (v3 unless v2).
    pub fn read(el: &Element) -> Result<Self, DecodeError> {
        let version = if el.ns.as_deref() == Some(V2.uri) {
            PortVersion::V2
        } else {
            PortVersion::V3
        };
        let kvittering = TransportKvittering::read_xml(el, &Path::root(Self::ROOT))?;
        Ok(Self {
            version,
            kvittering,
        })
    }
}

xml_struct! {
    /// `ErrorType` of a ServiceplatformFault.
    pub struct ServiceplatformError in SPF {
        /// The platform's error code.
        one "ErrorCode" => error_code: String,
        /// The error in words.
        one "ErrorText" => error_text: String,
    }
}

xml_struct! {
    /// `ErrorListType`.
    pub struct ErrorList in SPF {
        /// Each error, at least one.
        many1 "Error" => error: ServiceplatformError,
    }
}

message! {
    /// `ServiceplatformFault`: the platform's own errors (security, routing, availability).
    pub struct ServiceplatformFault, root SERVICEPLATFORM_FAULT "ServiceplatformFault", declare SPF_ONLY, children SPF {
        /// The errors, if the platform lists them.
        opt "ErrorList" => error_list: ErrorList,
    }
}

const SPF: Option<Ns> = Some(SERVICEPLATFORM_FAULT);
const SPF_ONLY: &[Ns] = &[SERVICEPLATFORM_FAULT];

impl ServiceplatformFault {
    /// A fault that lists one error.
    pub fn new(code: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            error_list: Some(ErrorList {
                error: vec![ServiceplatformError {
                    error_code: code.into(),
                    error_text: text.into(),
                }],
            }),
        }
    }
}
