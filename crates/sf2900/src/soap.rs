//! SOAP 1.1 envelopes and faults, and the operations of the platform port.
//!
//! Requests and responses go in a Body with no Header (the AuthorityContext security model puts
//! the CVR inside the body, not in a WS-Security header). Faults carry a TransportKvittering or
//! a ServiceplatformFault as detail. Decoding accepts any prefixes and ignores a Header.

use crate::codec::{DecodeError, Message};
use crate::messages::{
    FordelingskvitteringModtagAnvenderRequest, FordelingskvitteringModtagRequest,
    FordelingsmodtagerListRequest, FordelingsmodtagerValiderRequest, FordelingsobjektAfsendRequest,
    ServiceplatformFault, TransportKvitteringFault,
};
use crate::ns::{SOAP_ENV, V3_PORT};
use crate::xml::{Element, Writer};

/// The `Content-Type` of SOAP 1.1.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Wraps a message in a SOAP 1.1 envelope. All namespaces are declared on the Envelope.
pub fn envelope<M: Message>(message: &M) -> String {
    let mut w = Writer::new();
    open_envelope::<M>(&mut w);
    message.write_xml(&mut w, Some(M::NS), M::ROOT);
    close_envelope(&mut w);
    w.finish()
}

/// A SOAP envelope around a message already written by [`Message::to_xml`] (and stored):
/// the message goes in byte for byte, its namespaces declared on its own root, so every
/// attempt sends exactly what was stored.
pub fn envelope_document(document: &str) -> String {
    let mut w = Writer::new();
    w.declaration();
    w.declare_on_next(&[SOAP_ENV]);
    w.open(Some(SOAP_ENV), "Envelope");
    w.open(Some(SOAP_ENV), "Body");
    w.document(document);
    close_envelope(&mut w);
    w.finish()
}

fn open_envelope<M: Message>(w: &mut Writer) {
    w.declaration();
    w.declare_on_next(&[SOAP_ENV]);
    w.declare_on_next(M::namespaces());
    w.open(Some(SOAP_ENV), "Envelope");
    w.open(Some(SOAP_ENV), "Body");
}

fn close_envelope(w: &mut Writer) {
    w.close(Some(SOAP_ENV), "Body");
    w.close(Some(SOAP_ENV), "Envelope");
}

/// A SOAP 1.1 Fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// `soap:Client` (the caller's mistake) or `soap:Server`.
    pub code: FaultCode,
    /// `faultstring`: the error in words, for people.
    pub string: String,
    /// `faultactor`: who raised it, if it says.
    pub actor: Option<String>,
    /// `detail`: the structured error, if any.
    pub detail: Option<FaultDetail>,
}

/// `faultcode`: whose fault it is, which decides whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// The request was wrong (`soap:Client`); the same request will fail again.
    Client,
    /// The service failed (`soap:Server`); a later attempt may succeed.
    Server,
}

/// The structured error in a fault's `detail`.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultDetail {
    /// The platform's or a receiver's transport receipt: the message was not taken.
    TransportKvittering(TransportKvitteringFault),
    /// The platform's own error (security, routing, availability).
    ServiceplatformFault(ServiceplatformFault),
    /// Anything else a peer puts in `detail`, kept as a tree.
    Other(Element),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = match self.code {
            FaultCode::Client => "Client",
            FaultCode::Server => "Server",
        };
        write!(f, "SOAP fault {code}: {}", self.string)?;
        match &self.detail {
            Some(FaultDetail::TransportKvittering(t)) => {
                let k = &t.kvittering;
                write!(
                    f,
                    " (TransportValideringsKode {}",
                    k.transport_validerings_kode
                )?;
                for fejl in k.fejl_liste.iter().flat_map(|l| &l.fejl) {
                    write!(f, "; {} {}", fejl.fejl_kode, fejl.fejl_tekst)?;
                }
                f.write_str(")")
            }
            Some(FaultDetail::ServiceplatformFault(s)) => {
                for e in s.error_list.iter().flat_map(|l| &l.error) {
                    write!(f, " [{} {}]", e.error_code, e.error_text)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Fault {
    /// The envelope with this fault as body (sent with HTTP 500, as SOAP 1.1 requires).
    pub fn envelope(&self) -> String {
        let mut w = Writer::new();
        w.declaration();
        w.declare_on_next(&[SOAP_ENV]);
        w.open(Some(SOAP_ENV), "Envelope");
        w.open(Some(SOAP_ENV), "Body");
        w.open(Some(SOAP_ENV), "Fault");
        let code = match self.code {
            FaultCode::Client => "soap:Client",
            FaultCode::Server => "soap:Server",
        };
        w.leaf(None, "faultcode", code);
        w.leaf(None, "faultstring", &self.string);
        if let Some(a) = &self.actor {
            w.leaf(None, "faultactor", a);
        }
        if let Some(d) = &self.detail {
            w.open(None, "detail");
            match d {
                FaultDetail::TransportKvittering(t) => t.write(&mut w),
                FaultDetail::ServiceplatformFault(s) => {
                    s.write_root(&mut w, &[crate::ns::SERVICEPLATFORM_FAULT])
                }
                FaultDetail::Other(e) => w.element_tree(e),
            }
            w.close(None, "detail");
        }
        w.close(Some(SOAP_ENV), "Fault");
        close_envelope(&mut w);
        w.finish()
    }

    fn read(el: &Element) -> Self {
        let text = |n: &str| el.child(n).map(|c| c.text().trim().to_owned());
        let code = match text("faultcode") {
            Some(c) if c.ends_with("Client") || c.contains("Client.") => FaultCode::Client,
            _ => FaultCode::Server,
        };
        let detail = el
            .child("detail")
            .and_then(|d| d.elements().next())
            .map(|d| match d.name.as_str() {
                "TransportKvittering" => match TransportKvitteringFault::read(d) {
                    Ok(t) => FaultDetail::TransportKvittering(t),
                    Err(_) => FaultDetail::Other(d.clone()),
                },
                "ServiceplatformFault" => match ServiceplatformFault::from_element(d) {
                    Ok(s) => FaultDetail::ServiceplatformFault(s),
                    Err(_) => FaultDetail::Other(d.clone()),
                },
                _ => FaultDetail::Other(d.clone()),
            });
        Fault {
            code,
            string: text("faultstring").unwrap_or_default(),
            actor: text("faultactor"),
            detail,
        }
    }
}

/// What a SOAP response turned out to be, when it was not the expected message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SoapError {
    /// The peer answered with a SOAP fault.
    #[error("{0}")]
    Fault(Box<Fault>),
    /// The answer is not a SOAP 1.1 envelope (e.g. an HTML error page).
    #[error("not a SOAP 1.1 envelope: {0}")]
    NotSoap(String),
    /// The envelope's body is not the expected message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// The first element of the Body of an envelope.
pub fn body_element(doc: &str) -> Result<Element, SoapError> {
    let root = Element::parse(doc).map_err(DecodeError::from)?;
    if root.name != "Envelope" {
        return Err(SoapError::NotSoap(format!(
            "root element is {}, expected Envelope",
            root.name
        )));
    }
    let body = root
        .child("Body")
        .ok_or_else(|| SoapError::NotSoap("no Body".into()))?;
    body.elements()
        .next()
        .cloned()
        .ok_or_else(|| SoapError::NotSoap("empty Body".into()))
}

/// Reads a response envelope: the expected message, or the fault it carries.
pub fn parse_response<M: Message>(doc: &str) -> Result<M, SoapError> {
    let el = body_element(doc)?;
    if el.name == "Fault" {
        return Err(SoapError::Fault(Box::new(Fault::read(&el))));
    }
    Ok(M::from_element(&el)?)
}

/// Reads a fault from an envelope, if the body is one.
pub fn parse_fault(doc: &str) -> Option<Fault> {
    body_element(doc)
        .ok()
        .filter(|e| e.name == "Fault")
        .map(|e| Fault::read(&e))
}

/// The operations of the platform port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Hand a distribution object to the platform.
    FordelingsobjektAfsend,
    /// Ask which systems receive objects for a KLE emne and facet.
    FordelingsmodtagerList,
    /// Ask whether given receivers can receive from a sender.
    FordelingsmodtagerValider,
    /// A receiver reports its business receipt.
    FordelingskvitteringModtag,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 4] = [
        Self::FordelingsobjektAfsend,
        Self::FordelingsmodtagerList,
        Self::FordelingsmodtagerValider,
        Self::FordelingskvitteringModtag,
    ];

    /// The operation's name, as the WSDL and its request element spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::FordelingsobjektAfsend => "FordelingsobjektAfsend",
            Self::FordelingsmodtagerList => "FordelingsmodtagerList",
            Self::FordelingsmodtagerValider => "FordelingsmodtagerValider",
            Self::FordelingskvitteringModtag => "FordelingskvitteringModtag",
        }
    }

    /// The SOAPAction header value, as the WSDL gives it.
    pub fn soap_action(self) -> String {
        format!("{V3_PORT}/{}", self.name())
    }

    /// From a SOAPAction header (quoted or not). Unknown actions give `None`.
    pub fn from_soap_action(action: &str) -> Option<Self> {
        let a = action.trim().trim_matches('"');
        let name = a
            .strip_prefix(V3_PORT)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(a);
        Self::ALL.into_iter().find(|o| o.name() == name)
    }

    /// From the request's body element name.
    pub fn from_request_element(name: &str) -> Option<Self> {
        name.strip_suffix("Request")
            .and_then(|n| Self::ALL.into_iter().find(|o| o.name() == n))
    }
}

/// A decoded request to the platform port.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A FordelingsobjektAfsend request.
    FordelingsobjektAfsend(Box<FordelingsobjektAfsendRequest>),
    /// A FordelingsmodtagerList request.
    FordelingsmodtagerList(FordelingsmodtagerListRequest),
    /// A FordelingsmodtagerValider request.
    FordelingsmodtagerValider(FordelingsmodtagerValiderRequest),
    /// A FordelingskvitteringModtag request.
    FordelingskvitteringModtag(Box<FordelingskvitteringModtagRequest>),
}

impl Request {
    /// Which operation it is.
    pub fn operation(&self) -> Operation {
        match self {
            Self::FordelingsobjektAfsend(_) => Operation::FordelingsobjektAfsend,
            Self::FordelingsmodtagerList(_) => Operation::FordelingsmodtagerList,
            Self::FordelingsmodtagerValider(_) => Operation::FordelingsmodtagerValider,
            Self::FordelingskvitteringModtag(_) => Operation::FordelingskvitteringModtag,
        }
    }

    /// The AuthorityContext, if the caller sent one.
    pub fn authority_context(&self) -> Option<&crate::messages::AuthorityContext> {
        match self {
            Self::FordelingsobjektAfsend(r) => r.authority_context.as_ref(),
            Self::FordelingsmodtagerList(r) => r.authority_context.as_ref(),
            Self::FordelingsmodtagerValider(r) => r.authority_context.as_ref(),
            Self::FordelingskvitteringModtag(r) => r.authority_context.as_ref(),
        }
    }

    /// Decodes a request envelope leniently (see [`Request::parse_strict`]).
    pub fn parse(doc: &str, soap_action: Option<&str>) -> Result<Self, RequestError> {
        Self::parse_with(doc, soap_action, false)
    }

    /// Decodes a request envelope as the platform does: the body must be valid for the XSD in
    /// element order, namespaces and unknown elements as well as in values.
    pub fn parse_strict(doc: &str, soap_action: Option<&str>) -> Result<Self, RequestError> {
        Self::parse_with(doc, soap_action, true)
    }

    /// The operation is taken from the body element; when a SOAPAction is given it must name
    /// the same operation.
    fn parse_with(
        doc: &str,
        soap_action: Option<&str>,
        strict: bool,
    ) -> Result<Self, RequestError> {
        let el = body_element(doc).map_err(RequestError::Soap)?;
        let op = Operation::from_request_element(&el.name)
            .ok_or_else(|| RequestError::UnknownOperation(el.name.clone()))?;
        if let Some(action) = soap_action.filter(|a| !a.trim().trim_matches('"').is_empty()) {
            match Operation::from_soap_action(action) {
                Some(a) if a == op => {}
                _ => {
                    return Err(RequestError::ActionMismatch {
                        action: action.to_owned(),
                        body: op,
                    });
                }
            }
        }
        fn decode<M: Message>(el: &Element, strict: bool) -> Result<M, DecodeError> {
            if strict {
                M::from_element_strict(el)
            } else {
                M::from_element(el)
            }
        }
        let req = match op {
            Operation::FordelingsobjektAfsend => {
                Self::FordelingsobjektAfsend(Box::new(decode(&el, strict)?))
            }
            Operation::FordelingsmodtagerList => Self::FordelingsmodtagerList(decode(&el, strict)?),
            Operation::FordelingsmodtagerValider => {
                Self::FordelingsmodtagerValider(decode(&el, strict)?)
            }
            Operation::FordelingskvitteringModtag => {
                Self::FordelingskvitteringModtag(Box::new(decode(&el, strict)?))
            }
        };
        Ok(req)
    }
}

/// Why a request could not be taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// The request is not a SOAP envelope.
    #[error("{0}")]
    Soap(SoapError),
    /// The body's element is the request of no operation.
    #[error("unknown operation: body element {0}")]
    UnknownOperation(String),
    /// The SOAPAction header names another operation than the body.
    #[error("SOAPAction {action} does not match the body ({})", body.name())]
    ActionMismatch {
        /// The SOAPAction header's value.
        action: String,
        /// The operation of the body.
        body: Operation,
    },
    /// The body is not a valid request of its operation.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Reads the anvender callback (what a Fordeler's receipt endpoint receives).
pub fn parse_anvender_callback(
    doc: &str,
) -> Result<FordelingskvitteringModtagAnvenderRequest, SoapError> {
    let el = body_element(doc)?;
    Ok(FordelingskvitteringModtagAnvenderRequest::from_element(
        &el,
    )?)
}
