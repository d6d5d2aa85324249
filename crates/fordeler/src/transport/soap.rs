//! The SOAP client for SF2900's platform port (`/service/SP/Distribution/3`): SOAP 1.1 over
//! HTTPS with mutual TLS, the security model Serviceplatformen calls AuthorityContext.
//!
//! The client owns the HTTP side only: a keep-alive connection pool with the anvender's
//! certificate, timeouts, the SOAPAction and Content-Type headers, reading the answer, and
//! telling the caller what went wrong in a way it can act on ([`CallError::class`]). Messages
//! are built and read by `sf2900`; the AuthorityContext is the caller's business.
//!
//! Errors never carry a payload: only the platform's own fault text (faultstring, FejlTekst,
//! ErrorText), status codes and network reasons.

use super::ErrorClass;
use super::identity::{ClientIdentity, TrustRoots};
use sf2900::soap::{self, Fault, FaultCode, FaultDetail, Operation, SoapError};
use sf2900::{
    FordelingsmodtagerListRequest, FordelingsmodtagerListResponse,
    FordelingsmodtagerValiderRequest, FordelingsmodtagerValiderResponse,
    FordelingsobjektAfsendRequest, FordelingsobjektAfsendResponse, Message,
};
use std::fmt;
use std::time::{Duration, Instant};

/// How the client talks to the platform. [`SoapSettings::new`] gives production defaults.
#[derive(Debug, Clone)]
pub struct SoapSettings {
    /// For example `https://exttest.serviceplatformen.dk/service/SP/Distribution/3`.
    pub endpoint: String,
    /// TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// The whole call: connect, send, wait, read the answer.
    pub call_timeout: Duration,
    /// Idle keep-alive connections are closed after this.
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// Answers larger than this are refused (a SOAP answer from SF2900 is a few kB).
    pub max_response_bytes: usize,
}

impl SoapSettings {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            connect_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(60),
            pool_max_idle_per_host: 16,
            max_response_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The client could not be built (a configuration error, found at start-up).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("SOAP endpoint {endpoint:?} is not a valid https URL: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("TLS set-up for the SOAP client failed: {0}")]
    Tls(String),
    #[error("HTTP client set-up failed: {0}")]
    Http(String),
}

/// A call that did not give the expected answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// No HTTP answer: connect, TLS, timeout or the connection broke.
    Transport { kind: TransportKind, detail: String },
    /// An HTTP error status without a SOAP fault (a load balancer or proxy answered).
    Http { status: u16 },
    /// The platform answered with a SOAP fault.
    Fault(Box<Fault>),
    /// The answer was not the expected SOAP message.
    Decode { detail: String },
}

/// What kind of transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// TCP connect failed (refused, unreachable, DNS).
    Connect,
    /// No complete answer within the connect or call timeout.
    Timeout,
    /// The platform refused our client certificate in the handshake (alert
    /// `certificate_required`, `unknown_ca`, `bad_certificate`, …).
    TlsRefused,
    /// We do not trust the platform's server certificate.
    TlsUntrusted,
    /// Any other TLS failure.
    Tls,
    /// The connection broke while sending or receiving.
    Io,
}

impl CallError {
    /// What the caller should do about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Transport { kind, .. } => match kind {
                TransportKind::TlsRefused | TransportKind::TlsUntrusted => {
                    ErrorClass::Configuration
                }
                _ => ErrorClass::Retryable,
            },
            Self::Http { status } => match status {
                408 | 429 | 500..=599 => ErrorClass::Retryable,
                // Wrong endpoint path, or refused before the SOAP layer: the operator's to fix.
                401 | 403 | 404 | 405 => ErrorClass::Configuration,
                _ => ErrorClass::Permanent,
            },
            Self::Fault(f) => classify_fault(f),
            Self::Decode { .. } => ErrorClass::Permanent,
        }
    }

    /// True when the same call may succeed later without anyone changing anything.
    pub fn retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// A short, stable label for metrics and logs.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Transport { kind, .. } => match kind {
                TransportKind::Connect => "connect",
                TransportKind::Timeout => "timeout",
                TransportKind::TlsRefused => "tls_refused",
                TransportKind::TlsUntrusted => "tls_untrusted",
                TransportKind::Tls => "tls",
                TransportKind::Io => "io",
            },
            Self::Http { .. } => "http_error",
            Self::Fault(f) => match (&f.detail, f.code) {
                (Some(FaultDetail::ServiceplatformFault(_)), _) => "fault_platform",
                (_, FaultCode::Client) => "fault_client",
                (_, FaultCode::Server) => "fault_server",
            },
            Self::Decode { .. } => "decode",
        }
    }
}

/// A ServiceplatformFault is the platform's own refusal. Security, certificate and service
/// agreement problems are configuration; words of unavailability (or faultcode Server) mean
/// the platform had a bad moment. A TransportKvittering (or a bare fault) follows faultcode:
/// Client means our message is wrong, Server means theirs is the problem.
fn classify_fault(f: &Fault) -> ErrorClass {
    match &f.detail {
        Some(FaultDetail::ServiceplatformFault(spf)) => {
            let mut words = f.string.to_lowercase();
            for e in spf.error_list.iter().flat_map(|l| &l.error) {
                words.push(' ');
                words.push_str(&e.error_code.to_lowercase());
                words.push(' ');
                words.push_str(&e.error_text.to_lowercase());
            }
            let unavailable = [
                "unavailable",
                "temporar",
                "timeout",
                "timed out",
                "overload",
                "try again",
                "midlertidig",
                "utilgængelig",
            ]
            .iter()
            .any(|w| words.contains(w));
            if f.code == FaultCode::Server || unavailable {
                ErrorClass::Retryable
            } else {
                ErrorClass::Configuration
            }
        }
        _ => match f.code {
            FaultCode::Client => ErrorClass::Permanent,
            FaultCode::Server => ErrorClass::Retryable,
        },
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport { kind, detail } => match kind {
                TransportKind::Connect => {
                    write!(f, "cannot connect to Serviceplatformen: {detail}")
                }
                TransportKind::Timeout => {
                    write!(f, "Serviceplatformen did not answer in time: {detail}")
                }
                TransportKind::TlsRefused => write!(
                    f,
                    "Serviceplatformen refused our client certificate in the TLS handshake \
                     ({detail}); check that the configured FOCES/OCES3 system certificate is the \
                     one registered for the IT system"
                ),
                TransportKind::TlsUntrusted => write!(
                    f,
                    "the server certificate of Serviceplatformen is not trusted ({detail}); \
                     check the configured trust roots"
                ),
                TransportKind::Tls => write!(f, "TLS failure towards Serviceplatformen: {detail}"),
                TransportKind::Io => {
                    write!(f, "the connection to Serviceplatformen broke: {detail}")
                }
            },
            Self::Http { status } => write!(
                f,
                "Serviceplatformen answered HTTP {status} without a SOAP fault"
            ),
            Self::Fault(fault) => {
                let code = match fault.code {
                    FaultCode::Client => "Client",
                    FaultCode::Server => "Server",
                };
                match &fault.detail {
                    Some(FaultDetail::TransportKvittering(t)) => {
                        let k = &t.kvittering;
                        write!(
                            f,
                            "Serviceplatformen refused the call: TransportKvittering {} \
                             (faultcode {code}): {}",
                            k.transport_validerings_kode, fault.string
                        )?;
                        if let Some(b) = k.begrundelse.as_ref().filter(|b| **b != fault.string) {
                            write!(f, "; Begrundelse: {b}")?;
                        }
                        for fejl in k.fejl_liste.iter().flat_map(|l| &l.fejl) {
                            write!(f, "; Fejl {}: {}", fejl.fejl_kode, fejl.fejl_tekst)?;
                        }
                        Ok(())
                    }
                    Some(FaultDetail::ServiceplatformFault(spf)) => {
                        write!(
                            f,
                            "Serviceplatformen refused the call: ServiceplatformFault \
                             (faultcode {code}): {}",
                            fault.string
                        )?;
                        for e in spf.error_list.iter().flat_map(|l| &l.error) {
                            if e.error_text == fault.string {
                                write!(f, " ({})", e.error_code)?;
                            } else {
                                write!(f, "; {}: {}", e.error_code, e.error_text)?;
                            }
                        }
                        if classify_fault(fault) == ErrorClass::Configuration {
                            f.write_str(
                                " (check the certificate, the IT system's service agreement \
                                 and the CVR in AuthorityContext)",
                            )?;
                        }
                        Ok(())
                    }
                    _ => write!(
                        f,
                        "Serviceplatformen answered with a SOAP fault (faultcode {code}): {}",
                        fault.string
                    ),
                }
            }
            Self::Decode { detail } => write!(
                f,
                "the answer from Serviceplatformen could not be read: {detail}"
            ),
        }
    }
}

impl std::error::Error for CallError {}

/// The platform port's client. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct SoapClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    max_response_bytes: usize,
}

impl fmt::Debug for SoapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoapClient")
            .field("endpoint", &self.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl SoapClient {
    /// Builds the client: the identity is presented in every handshake, `roots` decide which
    /// server certificates are trusted.
    pub fn new(
        settings: &SoapSettings,
        identity: &ClientIdentity,
        roots: &TrustRoots,
    ) -> Result<Self, SetupError> {
        let endpoint_err = |reason: String| SetupError::Endpoint {
            endpoint: settings.endpoint.clone(),
            reason,
        };
        let endpoint =
            reqwest::Url::parse(&settings.endpoint).map_err(|e| endpoint_err(e.to_string()))?;
        // Without TLS there is no client certificate, so the platform could never accept us.
        if endpoint.scheme() != "https" {
            return Err(endpoint_err("the scheme must be https".into()));
        }
        let mut tls = identity.rustls_config(roots).map_err(SetupError::Tls)?;
        // SOAP 1.1 over HTTP/1.1, as the platform's WSDL binding has it.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.call_timeout)
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .tcp_keepalive(Duration::from_secs(30))
            // A redirected SOAP POST is a misconfiguration, not something to follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("os2forms-fordeler/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError::Http(error_chain(&e)))?;
        Ok(Self {
            http,
            endpoint,
            max_response_bytes: settings.max_response_bytes,
        })
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// FordelingsobjektAfsend: hand a distribution object to the Fordelingskomponent. A resend
    /// with the same AnvenderTransaktionsID is answered idempotently by the platform.
    pub async fn afsend(
        &self,
        request: &FordelingsobjektAfsendRequest,
    ) -> Result<FordelingsobjektAfsendResponse, CallError> {
        self.call(Operation::FordelingsobjektAfsend, request).await
    }

    /// FordelingsobjektAfsend with a request stored as written ([`sf2900::Message::to_xml`]):
    /// sent byte for byte, so a retry is exactly the first attempt.
    pub async fn afsend_stored(
        &self,
        request_xml: &str,
    ) -> Result<FordelingsobjektAfsendResponse, CallError> {
        self.call_body(
            Operation::FordelingsobjektAfsend,
            soap::envelope_document(request_xml),
        )
        .await
    }

    /// FordelingsmodtagerList: which systems would receive objects for a routing.
    pub async fn list(
        &self,
        request: &FordelingsmodtagerListRequest,
    ) -> Result<FordelingsmodtagerListResponse, CallError> {
        self.call(Operation::FordelingsmodtagerList, request).await
    }

    /// FordelingsmodtagerValider: whether a receiver can take a given object type.
    pub async fn valider(
        &self,
        request: &FordelingsmodtagerValiderRequest,
    ) -> Result<FordelingsmodtagerValiderResponse, CallError> {
        self.call(Operation::FordelingsmodtagerValider, request)
            .await
    }

    /// One SOAP call: envelope, POST, answer or classified error. Counted in
    /// `fordeler_soap_calls_total{operation,outcome}` and timed in
    /// `fordeler_soap_call_duration_seconds{operation}`.
    pub async fn call<Req: Message, Resp: Message>(
        &self,
        operation: Operation,
        request: &Req,
    ) -> Result<Resp, CallError> {
        self.call_body(operation, soap::envelope(request)).await
    }

    async fn call_body<Resp: Message>(
        &self,
        operation: Operation,
        envelope: String,
    ) -> Result<Resp, CallError> {
        let started = Instant::now();
        let result = self.exchange(operation, envelope).await;
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        metrics::counter!(
            "fordeler_soap_calls_total",
            "operation" => operation.name(),
            "outcome" => outcome,
        )
        .increment(1);
        metrics::histogram!(
            "fordeler_soap_call_duration_seconds",
            "operation" => operation.name(),
        )
        .record(elapsed.as_secs_f64());
        match &result {
            Ok(_) => tracing::debug!(
                operation = operation.name(),
                elapsed_ms = elapsed.as_millis() as u64,
                "SOAP call answered"
            ),
            Err(e) => tracing::debug!(
                operation = operation.name(),
                outcome,
                elapsed_ms = elapsed.as_millis() as u64,
                error = %e,
                "SOAP call failed"
            ),
        }
        result
    }

    async fn exchange<Resp: Message>(
        &self,
        operation: Operation,
        body: String,
    ) -> Result<Resp, CallError> {
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, soap::CONTENT_TYPE)
            .header("SOAPAction", format!("\"{}\"", operation.soap_action()))
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let text = self.read_body(response).await?;

        if status.is_success() {
            return soap::parse_response::<Resp>(&text).map_err(|e| match e {
                SoapError::Fault(f) => CallError::Fault(f),
                other => CallError::Decode {
                    detail: other.to_string(),
                },
            });
        }
        // SOAP 1.1 sends faults with 500; anything else without a fault is the HTTP layer's.
        match soap::parse_fault(&text) {
            Some(fault) => Err(CallError::Fault(Box::new(fault))),
            None => Err(CallError::Http {
                status: status.as_u16(),
            }),
        }
    }

    /// Reads the answer up to the size limit. Not UTF-8 is a decode error (SOAP answers from
    /// the platform are UTF-8).
    async fn read_body(&self, mut response: reqwest::Response) -> Result<String, CallError> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(CallError::Decode {
                    detail: format!(
                        "the answer is larger than {} bytes",
                        self.max_response_bytes
                    ),
                });
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| CallError::Decode {
            detail: "the answer is not UTF-8".into(),
        })
    }
}

/// Sorts a reqwest failure into a transport kind. TLS is looked for first: a refused
/// certificate also counts as a connect error in reqwest's terms.
fn transport_error(e: reqwest::Error) -> CallError {
    let detail = error_chain(&e);
    let kind = if let Some(tls) = find_rustls_error(&e) {
        tls_kind(tls)
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Io
    };
    CallError::Transport { kind, detail }
}

fn tls_kind(e: &rustls::Error) -> TransportKind {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::AlertReceived(
            A::CertificateRequired
            | A::UnknownCA
            | A::BadCertificate
            | A::CertificateUnknown
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::UnsupportedCertificate
            | A::AccessDenied
            | A::HandshakeFailure,
        ) => TransportKind::TlsRefused,
        rustls::Error::InvalidCertificate(_) => TransportKind::TlsUntrusted,
        _ => TransportKind::Tls,
    }
}

/// rustls errors travel inside `std::io::Error`, whose `source()` skips the wrapped error, so
/// the chain is walked by hand.
fn find_rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            current = Some(inner);
            continue;
        }
        current = err.source();
    }
    None
}

/// "a: b: c" from an error and its sources, skipping repeats (hyper and reqwest often repeat
/// the inner message).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        let msg = err.to_string();
        if !msg.is_empty() && !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        current = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => inner.source(),
            None => err.source(),
        };
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sf2900::messages::ServiceplatformFault;

    fn fault(code: FaultCode, detail: Option<FaultDetail>) -> CallError {
        CallError::Fault(Box::new(Fault {
            code,
            string: "x".into(),
            actor: None,
            detail,
        }))
    }

    #[test]
    fn classification() {
        let spf = |c: &str, t: &str| {
            Some(FaultDetail::ServiceplatformFault(
                ServiceplatformFault::new(c, t),
            ))
        };
        assert_eq!(
            fault(FaultCode::Client, spf("SP-AUTH-3", "No service agreement")).class(),
            ErrorClass::Configuration
        );
        assert_eq!(
            fault(
                FaultCode::Client,
                spf("SP-500", "Service temporarily unavailable")
            )
            .class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            fault(FaultCode::Server, spf("X", "whatever")).class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            fault(FaultCode::Client, None).class(),
            ErrorClass::Permanent
        );
        assert_eq!(
            fault(FaultCode::Server, None).class(),
            ErrorClass::Retryable
        );
        assert!(CallError::Http { status: 503 }.retryable());
        assert!(CallError::Http { status: 429 }.retryable());
        assert_eq!(
            CallError::Http { status: 400 }.class(),
            ErrorClass::Permanent
        );
        assert_eq!(
            CallError::Http { status: 404 }.class(),
            ErrorClass::Configuration
        );
        assert!(!CallError::Decode { detail: "x".into() }.retryable());
    }
}
