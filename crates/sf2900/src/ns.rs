//! Namespaces, SOAP actions and endpoint paths of SF2900 and the SFTP service, in one place.
//!
//! Element names live next to the types that carry them (`model.rs`, `messages.rs`, `sftp.rs`),
//! each written once, exactly as the XSD spells it, typos included
//! (`DistributionTransktionsID`, `RoutingResposneListeType`).

use crate::xml::Ns;

/// SOAP 1.1 envelopes and faults.
pub const SOAP_ENV: Ns = Ns {
    prefix: "soap",
    uri: "http://schemas.xmlsoap.org/soap/envelope/",
};
/// SF2900 v3 message wrappers (`DistributionServiceMsg.xsd`).
pub const V3: Ns = Ns {
    prefix: "v3",
    uri: "http://serviceplatformen.dk/xml/wsdl/soap11/DistributionService/3/types",
};
/// SF2900 v2 payload types and the anvender/modtager callback messages.
pub const V2: Ns = Ns {
    prefix: "v2",
    uri: "http://serviceplatformen.dk/xml/wsdl/soap11/DistributionService/2/types",
};
/// `AuthorityContext`: the municipality a call is made for.
pub const AUTHORITY_CONTEXT: Ns = Ns {
    prefix: "auth",
    uri: "http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/",
};
/// `CallContext`: optional information about the caller.
pub const CALL_CONTEXT: Ns = Ns {
    prefix: "cctx",
    uri: "http://serviceplatformen.dk/xml/schemas/CallContext/1/",
};
/// `ServiceplatformFault`: the platform's own errors.
pub const SERVICEPLATFORM_FAULT: Ns = Ns {
    prefix: "spf",
    uri: "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/",
};
/// The SFTP service's trigger and receipt root elements (their children are unqualified).
pub const SFTP: Ns = Ns {
    prefix: "sftp",
    uri: "http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types",
};

/// Every namespace a v3 request or response can use; declared once on the envelope.
pub const V3_MESSAGE: &[Ns] = &[V3, V2, AUTHORITY_CONTEXT, CALL_CONTEXT];
/// The anvender callback uses only the v2 namespace.
pub const V2_MESSAGE: &[Ns] = &[V2];

/// SOAPAction prefix of the platform port; the operation name is appended.
pub const V3_PORT: &str = "http://serviceplatformen.dk/xml/wsdl/soap11/DistributionService/3/port";
/// Path of the platform endpoint on Serviceplatformen (test: exttest.serviceplatformen.dk).
pub const SERVICE_PATH: &str = "/service/SP/Distribution/3";
/// Serviceplatformen's entity id and service UUID for the Fordelingskomponent, version 3.
pub const SERVICE_ENTITY_ID: &str = "http://sp.serviceplatformen.dk/service/fordeling/3";
/// The service's UUID on Serviceplatformen, as service agreements name it.
pub const SERVICE_UUID: &str = "74d3c5f5-1b3c-4c6d-8366-1241f055d332";
/// `Recipients` value in a trigger that asks for dynamic routing.
pub const SFTP_DYNAMIC_ROUTING: &str = "ROUTING_V1_0_0";
