//! The load: one request at a time per connection, of a kind drawn from the mix, and the
//! judgement of its answer.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::world::{Kind, LEEWAY_SECS, POOL, VICTIMS, World, now};

/// One request of the load: what was sent, what came back, and whether it was right.
pub(crate) async fn one_request(world: &World) {
    let live = world.live_replicas();
    if live.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        return;
    }
    let replica = live[world.random(live.len())];
    let tokens = world.tokens();
    let roll = world.random(100);
    let mut kind = match roll {
        0..=74 => Kind::Seen,
        75..=81 => Kind::New,
        82..=84 => Kind::Forged,
        85..=87 => Kind::Expired,
        88..=90 => Kind::NoScope,
        91..=92 => Kind::NearExpiry,
        93 => Kind::PastExpiry,
        94..=96 => Kind::Victim,
        97..=98 => Kind::Dpop,
        _ => Kind::DpopReplay,
    };
    let mut victim = None;
    // The key the token is signed with: the load's tokens', or the signing key's for those
    // minted now.
    let mut kid = tokens.kid.clone();
    if matches!(kind, Kind::New | Kind::NearExpiry) {
        kid = world.issuer.signing_kid();
    }
    let mut token = match kind {
        Kind::Seen => tokens.pool[world.random(POOL)].clone(),
        Kind::New => world
            .issuer
            .token()
            .subject(format!("new-{}", world.random(1_000_000)))
            .scopes(["Orders.Read"])
            .sign(),
        Kind::Forged => tokens.forged.clone(),
        Kind::Expired => tokens.expired.clone(),
        Kind::NoScope => tokens.reader.clone(),
        Kind::NearExpiry => {
            let exp = now() + 2;
            let token = world
                .issuer
                .token()
                .subject(format!("brief-{}", world.random(1_000_000)))
                .scopes(["Orders.Read"])
                .issued_at(now() - 10)
                .expires_at(exp)
                .sign();
            let mut expiring = world.expiring.lock().unwrap();
            if expiring.len() < 1000 {
                expiring.push_back((token.clone(), exp));
            }
            token
        }
        Kind::PastExpiry => {
            let ripe = {
                let mut expiring = world.expiring.lock().unwrap();
                match expiring.front() {
                    Some((_, exp)) if *exp + LEEWAY_SECS + 1 < now() => expiring.pop_front(),
                    _ => None,
                }
            };
            match ripe {
                Some((token, _)) => token,
                None => {
                    kind = Kind::Seen;
                    tokens.pool[world.random(POOL)].clone()
                }
            }
        }
        Kind::Victim => {
            let index = world.random(VICTIMS);
            victim = Some(index);
            tokens.victims[index].clone()
        }
        Kind::Dpop | Kind::DpopReplay => tokens.dpop.clone(),
    };
    // The proof: fresh, or one already accepted sent again to the replica that took it.
    let mut replica = replica;
    let proof = match kind {
        Kind::Dpop => Some(
            world
                .dpop_key
                .proof("GET", &format!("{}/orders", replica.base))
                .access_token(&token)
                .sign(),
        ),
        Kind::DpopReplay => {
            let used = world.used_proof.lock().unwrap().clone();
            match used {
                // Sent again exactly as it was accepted: same token, same replica.
                Some((proof, used_token, used_kid, index))
                    if world.replicas[index].up.load(Ordering::Acquire) =>
                {
                    replica = &world.replicas[index];
                    token = used_token;
                    kid = used_kid;
                    Some(proof)
                }
                _ => {
                    kind = Kind::Dpop;
                    Some(
                        world
                            .dpop_key
                            .proof("GET", &format!("{}/orders", replica.base))
                            .access_token(&token)
                            .sign(),
                    )
                }
            }
        }
        _ => None,
    };
    let request = if kind == Kind::NoScope {
        world
            .http
            .post(format!("{}/orders", replica.base))
            .header("content-type", "application/json")
            .body(r#"{"item":"soak"}"#)
    } else {
        world.http.get(format!("{}/orders", replica.base))
    };
    let request = match &proof {
        Some(proof) => request
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof),
        None => request.bearer_auth(&token),
    };
    let started_ms = world.ms();
    let started = Instant::now();
    let answer = request.send().await;
    let elapsed = started.elapsed();
    let ended_ms = world.ms();
    let phase = world.phase.load(Ordering::Relaxed);
    let (label, verdict) = match answer {
        Err(error) => {
            let label = "connection error".to_owned();
            if replica.excused() {
                (label, Ok(()))
            } else {
                (
                    label,
                    Err(format!(
                        "replica {}: connection error while up: {error}",
                        replica.index
                    )),
                )
            }
        }
        Ok(answer) => {
            let status = answer.status().as_u16();
            let header = |name: &str| {
                answer
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let challenge = header("www-authenticate");
            let retry_after = header("retry-after");
            let parameter = |name: &str| {
                challenge
                    .as_deref()
                    .and_then(|c| c.split(&format!("{name}=\"")).nth(1))
                    .and_then(|rest| rest.split('"').next())
                    .map(str::to_owned)
            };
            let body = answer.bytes().await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let in_body = |name: &str| body[name].as_str().map(str::to_owned);
            // The most precise reason given: the challenge's description, the problem body's
            // `detail` (a realm-only challenge, a 503), then the error code.
            let reason = parameter("error_description")
                .or_else(|| in_body("detail"))
                .or_else(|| parameter("error"))
                .or_else(|| in_body("title"))
                .filter(|_| status >= 400)
                .unwrap_or_default();
            let label = if reason.is_empty() {
                status.to_string()
            } else {
                format!("{status} {reason}")
            };
            let retired = world
                .retired
                .lock()
                .unwrap()
                .iter()
                .any(|(retired, at)| *retired == kid && *at <= ended_ms);
            let answer = Answer {
                kind,
                victim,
                status,
                reason: &reason,
                retry_after: retry_after.is_some(),
                started_ms,
                ended_ms,
                retired_key: retired,
            };
            (
                label.clone(),
                judge(world, &answer).map_err(|e| {
                    format!("replica {}: {kind:?} answered {label}: {e}", replica.index)
                }),
            )
        }
    };
    if kind == Kind::Dpop
        && label == "200"
        && let Some(proof) = proof
    {
        *world.used_proof.lock().unwrap() =
            Some((proof, token.clone(), kid.clone(), replica.index));
    }
    if let Err(what) = verdict {
        world.violation(what);
    }
    let mut stats = world.stats.lock().unwrap();
    let phase = &mut stats[phase];
    phase.requests += 1;
    phase
        .latencies_us
        .push(elapsed.as_micros().min(u32::MAX as u128) as u32);
    *phase
        .answers
        .entry(format!("{kind:?}: {label}"))
        .or_default() += 1;
}

/// An answer, as the judge sees it.
pub(crate) struct Answer<'a> {
    pub(crate) kind: Kind,
    /// The victim whose token was sent, for [`Kind::Victim`].
    pub(crate) victim: Option<usize>,
    pub(crate) status: u16,
    /// The challenge's `error_description`, else the problem body's `detail`, else the error.
    pub(crate) reason: &'a str,
    pub(crate) retry_after: bool,
    pub(crate) started_ms: u64,
    pub(crate) ended_ms: u64,
    /// Whether the key that signed the token was retired before the answer came.
    pub(crate) retired_key: bool,
}

/// Whether an answer is one the guarantees allow.
pub(crate) fn judge(world: &World, answer: &Answer<'_>) -> Result<(), String> {
    let &Answer {
        kind,
        victim,
        status,
        reason,
        retry_after,
        started_ms,
        ended_ms,
        retired_key,
    } = answer;
    if status >= 500 && !(status == 503 && retry_after) {
        return Err("a 5xx other than 503 with Retry-After".to_owned());
    }
    let admitted = status == 200 || status == 201;
    let dpop = matches!(kind, Kind::Dpop | Kind::DpopReplay);
    // A proof whose replay cannot be checked must never be accepted.
    if dpop && admitted && world.redis_down(started_ms, ended_ms) {
        return Err("a DPoP proof accepted while Redis was down".to_owned());
    }
    // ... and is refused with warden's documented fail-closed answer.
    if dpop
        && status == 503
        && (world.redis_unavailable(started_ms) || world.redis_unavailable(ended_ms))
    {
        return Ok(());
    }
    // A token of a key retired while it flew may be refused as such by a replica that has
    // refreshed its key set: that refusal, and only it, is not judged.
    if retired_key && status == 401 && reason == "unknown signing key" {
        return Ok(());
    }
    match kind {
        Kind::DpopReplay => {
            if status == 401 && reason == "DPoP proof replayed" {
                Ok(())
            } else {
                Err("a replayed DPoP proof must be 401 DPoP proof replayed".to_owned())
            }
        }
        Kind::Seen | Kind::New | Kind::Dpop => {
            if admitted {
                Ok(())
            } else {
                Err("a valid token refused".to_owned())
            }
        }
        Kind::Forged | Kind::Expired | Kind::PastExpiry => {
            if status == 401 {
                Ok(())
            } else {
                Err("must be 401".to_owned())
            }
        }
        Kind::NoScope => {
            if status == 403 {
                Ok(())
            } else {
                Err("must be 403 (no Orders.Write)".to_owned())
            }
        }
        Kind::NearExpiry => {
            // Valid for 2 s and the leeway when sent: refused only by an answer slower than that.
            if admitted || (status == 401 && ended_ms - started_ms >= 2000) {
                Ok(())
            } else {
                Err("a token valid for 2 more seconds refused".to_owned())
            }
        }
        Kind::Victim => {
            let Some(index) = victim else {
                return Err("a victim's request without its victim".to_owned());
            };
            let revocation = world.revocations.lock().unwrap().get(&index).copied();
            match revocation {
                None if admitted => Ok(()),
                None => Err("a valid token refused before its user was revoked".to_owned()),
                // Between the first attempt and the bound either answer is right.
                Some((_, Some((ack, bound)))) if started_ms > ack + bound.as_millis() as u64 => {
                    if status == 401 && reason == "token revoked" {
                        Ok(())
                    } else {
                        Err(format!(
                            "must be 401 token revoked {} ms after the revocation was acknowledged",
                            started_ms - ack
                        ))
                    }
                }
                Some(_) => {
                    if admitted || (status == 401 && reason == "token revoked") {
                        Ok(())
                    } else {
                        Err(
                            "must be 200 or 401 token revoked while the revocation propagates"
                                .to_owned(),
                        )
                    }
                }
            }
        }
    }
}
