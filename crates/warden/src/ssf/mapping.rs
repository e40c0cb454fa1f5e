//! From an event's subject to the revocation rules that reach what it names: never less, and no
//! further than warden can tell. The table of event type × subject shape → rule is in
//! docs/shared-signals.md; `tests/integration/ssf.rs` asserts every cell.
//!
//! - A simple subject names a user (`iss_sub`, `opaque`, `email`, `aliases` of those) or a token
//!   (`jwt_id`); any other format names nothing a token carries.
//! - A complex subject (SSF 1.0 §3.3) is one subject: all its members together. Its `user`,
//!   `session` (`opaque`: a token's `sid`) and `tenant` (`opaque`: a token's `tid`) are processed;
//!   `device`, `application`, `org_unit`, `group`, and members in formats warden does not map are
//!   not. An event whose critical member (the transmitter's `critical_subject_members`) is one
//!   warden cannot process is discarded (SSF 1.0 §3.6) with a refusal naming the member; one that
//!   is not critical is ignored, which widens the rule (the user's tokens on every device), never
//!   narrows it.

use super::set::SetError;
use super::subject::{ComplexSubject, Subject};
use crate::cae::{Revocation, Target};
use crate::guid::same_id;

/// What part of a subject a revoking event reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The user's tokens (account events).
    User,
    /// The session's tokens when the subject names one (`session-revoked`), else the user's.
    Session,
}

/// What a transmitter may reach, and which complex-subject members it says are critical.
pub(crate) struct Mapping<'a> {
    /// Issuers whose users the transmitter may revoke.
    pub(crate) speaks_for: &'a [String],
    /// Tenants whose users the transmitter may revoke through a `tenant` member.
    pub(crate) tenants: &'a [String],
    /// The transmitter's `critical_subject_members`.
    pub(crate) critical: &'a [String],
}

impl Mapping<'_> {
    /// The rules (instant not yet set) that reach what `subject` names.
    ///
    /// # Errors
    ///
    /// [`SetError::SubjectNotAllowed`] for an issuer or tenant the transmitter may not speak for;
    /// [`SetError::CriticalMemberNotProcessed`] for a critical member warden cannot process;
    /// [`SetError::SubjectNotMatched`] when the subject names nothing tokens carry (a phone
    /// number, a device alone) or a whole tenant.
    pub(crate) fn rules(
        &self,
        subject: &Subject,
        reach: Reach,
    ) -> Result<Vec<Revocation>, SetError> {
        let rules = match subject {
            Subject::Complex(complex) => return self.complex(complex, reach),
            simple => self.user(simple, None)?,
        };
        if rules.is_empty() {
            return Err(SetError::SubjectNotMatched(
                "the subject's format names nothing warden matches tokens by",
            ));
        }
        Ok(rules)
    }

    fn complex(&self, complex: &ComplexSubject, reach: Reach) -> Result<Vec<Revocation>, SetError> {
        // SSF 1.0 §3.6: a critical member warden cannot process discards the event.
        if let Some((member, _)) = complex
            .members()
            .find(|(name, member)| self.is_critical(name) && !self.processes(name, member))
        {
            tracing::warn!(
                member,
                "security event discarded: its subject's critical member is one warden cannot process"
            );
            return Err(SetError::CriticalMemberNotProcessed { member });
        }
        let tenant = match &complex.tenant {
            Some(Subject::Opaque { id }) => {
                if !self.tenants.iter().any(|t| same_id(t, id)) {
                    return Err(SetError::SubjectNotAllowed);
                }
                Some(id.as_str())
            }
            // A tenant in another format (not critical): the rule is scoped to the issuers the
            // transmitter speaks for instead, which reaches more, never less.
            Some(_) | None => None,
        };
        let session = match &complex.session {
            Some(Subject::Opaque { id }) => self.scoped(Revocation::session(id.clone()), tenant),
            _ => Vec::new(),
        };
        let user = match &complex.user {
            Some(user) => self.user(user, tenant),
            None => Ok(Vec::new()),
        };
        let rules = match (reach, session.is_empty()) {
            // A session of a user: the session's tokens, and the user's tokens that name no
            // session (they may be the session's; the user's other sessions keep working). A user
            // warden may not revoke does not block the session's revocation.
            (Reach::Session, false) => {
                let user = match user {
                    Ok(user) => user,
                    // A critical user the transmitter may not speak for is not processed.
                    Err(refused) if self.is_critical("user") => {
                        return Err(refused);
                    }
                    Err(_) => Vec::new(),
                };
                let mut rules = session;
                rules.extend(user.into_iter().map(without_session));
                rules
            }
            // Account events reach the user; with no user member, the session. A user named in
            // a format warden cannot match is not narrowed to one of its sessions.
            _ => match user? {
                user if user.is_empty() && complex.user.is_some() => {
                    return Err(SetError::SubjectNotMatched(
                        "the subject's user is in a format warden cannot match: an account event is not narrowed to one session",
                    ));
                }
                user if user.is_empty() => session,
                user => user,
            },
        };
        if !rules.is_empty() {
            return Ok(rules);
        }
        Err(SetError::SubjectNotMatched(
            if complex.members().all(|(name, _)| name == "tenant") {
                "the subject is a whole tenant: warden revokes users and sessions, never a tenant on a transmitter's word"
            } else {
                "the subject names no user or session warden matches tokens by"
            },
        ))
    }

    /// The rules naming a simple subject's tokens; empty when warden cannot match it.
    fn user(&self, subject: &Subject, tenant: Option<&str>) -> Result<Vec<Revocation>, SetError> {
        Ok(match subject {
            Subject::IssSub { iss, sub } => {
                self.check_speaks_for(iss)?;
                vec![Revocation::user(sub.clone()).of_issuer(iss.clone())]
            }
            Subject::JwtId { iss, jti } => {
                self.check_speaks_for(iss)?;
                vec![Revocation::token(jti.clone()).of_issuer(iss.clone())]
            }
            Subject::Opaque { id } => self.scoped(Revocation::user(id.clone()), tenant),
            // Matches only tokens whose issuer verified the address (`Revocation::email`).
            Subject::Email { email } => self.scoped(Revocation::email(email.clone()), tenant),
            Subject::Aliases { identifiers } => {
                // An alias of an issuer the transmitter may not speak for is skipped; the SET is
                // refused only when such aliases are all it has.
                let mut rules = Vec::new();
                let mut foreign = false;
                for identifier in identifiers {
                    match self.user(identifier, tenant) {
                        Ok(more) => rules.extend(more),
                        Err(SetError::SubjectNotAllowed) => foreign = true,
                        Err(other) => return Err(other),
                    }
                }
                if rules.is_empty() && foreign {
                    return Err(SetError::SubjectNotAllowed);
                }
                rules
            }
            Subject::Account { .. }
            | Subject::PhoneNumber { .. }
            | Subject::Did { .. }
            | Subject::Uri { .. }
            | Subject::SamlAssertionId { .. }
            | Subject::IpAddresses { .. }
            | Subject::Complex(_)
            | Subject::Unrecognized { .. } => Vec::new(),
        })
    }

    /// A rule in the tenant when the subject names one, else in each issuer this transmitter
    /// speaks for.
    fn scoped(&self, rule: Revocation, tenant: Option<&str>) -> Vec<Revocation> {
        match tenant {
            Some(tenant) => vec![rule.in_tenant(tenant)],
            None => self
                .speaks_for
                .iter()
                .map(|issuer| rule.clone().of_issuer(issuer.clone()))
                .collect(),
        }
    }

    fn is_critical(&self, member: &str) -> bool {
        self.critical.iter().any(|c| c == member)
    }

    /// Whether warden processes this complex-subject member: a user it maps (or refuses as not
    /// its transmitter's to speak for), an opaque session or tenant id. Devices, applications,
    /// org units and groups name nothing a token carries.
    fn processes(&self, name: &str, member: &Subject) -> bool {
        match name {
            "user" => !matches!(self.user(member, None), Ok(rules) if rules.is_empty()),
            "session" | "tenant" => matches!(member, Subject::Opaque { .. }),
            _ => false,
        }
    }

    fn check_speaks_for(&self, issuer: &str) -> Result<(), SetError> {
        if self.speaks_for.iter().any(|allowed| allowed == issuer) {
            Ok(())
        } else {
            Err(SetError::SubjectNotAllowed)
        }
    }
}

/// A user rule narrowed to the tokens that name no session; any other rule as it is (an email
/// or a token rule reaches more than the session, never less).
fn without_session(rule: Revocation) -> Revocation {
    match rule.target() {
        Target::User => rule.with_target(Target::UserWithoutSession),
        Target::UserWithoutSession
        | Target::Session
        | Target::Token
        | Target::Client
        | Target::Email => rule,
    }
}
