//! The chaos schedule, the revocations, and the final sweep.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use warden_testing::{Algorithm, Endpoint, Fault, RedisServer};

use crate::world::{PHASE_STARTS, RECONNECT_ALLOWANCE, RECONNECT_WINDOW, Replica, VICTIMS, World};

/// The chaos schedule: each phase's faults, at its start.
pub(crate) async fn chaos(world: Arc<World>, redis: Arc<tokio::sync::Mutex<RedisServer>>) {
    let total = world.end - world.start;
    let at = |fraction: f64| world.start + total.mul_f64(fraction);
    let mut old_kid = world.issuer.signing_kid();
    for (phase, start) in PHASE_STARTS.iter().enumerate() {
        tokio::time::sleep_until(at(*start).into()).await;
        world.phase.store(phase, Ordering::Relaxed);
        let next = PHASE_STARTS.get(phase + 1).copied().unwrap_or(1.0);
        let middle = at((start + next) / 2.0);
        match phase {
            0 => {}
            1 => {
                // As providers rotate: a new key is published first, signs new tokens from a
                // third of the phase, and the old one is retired at its middle.
                let Ok(new_kid) = world.issuer.add_key(Algorithm::RS256) else {
                    world.violation("the issuer could not add a key".to_owned());
                    continue;
                };
                tokio::time::sleep_until(at(start + (next - start) / 3.0).into()).await;
                if world.issuer.promote(&new_kid).is_err() {
                    world.violation("the issuer could not promote its new key".to_owned());
                    continue;
                }
                tokio::time::sleep_until(middle.into()).await;
                retire(&world, &old_kid);
                old_kid = new_kid;
            }
            2 => {
                world.issuer.set_fault(Endpoint::Jwks, Fault::Status(503));
                world
                    .issuer
                    .set_fault(Endpoint::Discovery, Fault::Status(503));
                tokio::time::sleep_until(at(next - 0.01).into()).await;
                world.issuer.clear_fault(Endpoint::Jwks);
                world.issuer.clear_fault(Endpoint::Discovery);
            }
            3 => {
                world
                    .issuer
                    .set_fault(Endpoint::Jwks, Fault::Delay(Duration::from_secs(3)));
                tokio::time::sleep_until(middle.into()).await;
                world.issuer.set_fault(Endpoint::Jwks, Fault::Garbage);
                tokio::time::sleep_until(at(next - 0.01).into()).await;
                world.issuer.clear_fault(Endpoint::Jwks);
            }
            4 => {
                world.redis_killed_ms.store(world.ms(), Ordering::Release);
                redis.lock().await.kill();
                tokio::time::sleep_until(middle.into()).await;
                world
                    .redis_restarting_ms
                    .store(world.ms(), Ordering::Release);
                if let Err(error) = redis.lock().await.restart().await {
                    world.violation(format!("Redis did not restart: {error}"));
                }
                world
                    .redis_restarted_ms
                    .store(world.ms(), Ordering::Release);
            }
            5 => {
                let replica = &world.replicas[0];
                replica.kill();
                tokio::time::sleep_until(middle.into()).await;
                replica.restarted.store(true, Ordering::Release);
                if let Err(error) = replica.launch(&world).await {
                    world.violation(error);
                }
            }
            6 => {
                // Published, promoted and the old key retired at once: replicas learn the new
                // kid from the first token that names it.
                // Recorded as retired before the issuer unpublishes it: a replica may refresh
                // and refuse its tokens the moment `rotate` returns.
                mark_retired(&world, &old_kid);
                let Ok(new_kid) = world.issuer.rotate(Algorithm::RS256) else {
                    world.violation("the issuer could not rotate its key".to_owned());
                    continue;
                };
                world.remint();
                old_kid = new_kid;
            }
            _ => {}
        }
    }
}

/// Retires a key the issuer no longer signs with, and mints the load's tokens with the current
/// one. Recorded first: a replica may refresh and refuse its tokens the moment it is retired.
pub(crate) fn retire(world: &World, kid: &str) {
    if kid == world.issuer.signing_kid() {
        world.violation(format!("key {kid} still signs: not retired"));
        return;
    }
    mark_retired(world, kid);
    if world.issuer.retire(kid).is_err() {
        world.violation(format!("the issuer could not retire key {kid}"));
    }
    world.remint();
}

/// From now on, answers to tokens of `kid` that refuse them as signed by an unknown key are not
/// judged.
fn mark_retired(world: &World, kid: &str) {
    world
        .retired
        .lock()
        .unwrap()
        .push((kid.to_owned(), world.ms()));
}

/// Revokes the victims one after another, alternating the admin call and a pushed Shared
/// Signals event, each at a random live replica, retrying until acknowledged; then measures how
/// long each other replica takes to refuse the victim's token.
pub(crate) async fn revocations(world: Arc<World>) {
    let interval = (world.end - world.start).div_f64(VICTIMS as f64 + 2.0);
    for victim in 0..VICTIMS {
        tokio::time::sleep(interval).await;
        if Instant::now() + Duration::from_secs(5) > world.end {
            return;
        }
        world
            .revocations
            .lock()
            .unwrap()
            .insert(victim, (world.ms(), None));
        let by_event = victim % 2 == 1;
        let acknowledged_by = loop {
            if Instant::now() + Duration::from_secs(3) > world.end {
                world.violation(format!(
                    "the revocation of victim-{victim} was never acknowledged"
                ));
                return;
            }
            let live = world.live_replicas();
            if let Some(replica) = live.get(world.random(live.len().max(1)))
                && revoke(&world, replica, victim, by_event).await
            {
                break replica.index;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let acknowledged_at = Instant::now();
        let ack = world.ms();
        let counter = if by_event {
            &world.acknowledged_by_event
        } else {
            &world.acknowledged_by_admin
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let restarted = world.redis_restarted_ms.load(Ordering::Acquire);
        let bound = if restarted > 0 && ack < restarted + RECONNECT_WINDOW.as_millis() as u64 {
            world.config.propagation_bound + RECONNECT_ALLOWANCE
        } else {
            world.config.propagation_bound
        };
        if let Some(entry) = world.revocations.lock().unwrap().get_mut(&victim) {
            entry.1 = Some((ack, bound));
        }
        // Each other replica, polled every 5 ms until it refuses the victim's token; the delay
        // counts from the acknowledgement.
        let token = world.tokens().victims[victim].clone();
        for replica in world.live_replicas() {
            if replica.index == acknowledged_by {
                continue;
            }
            loop {
                let answer = world
                    .http
                    .get(format!("{}/orders", replica.base))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let delay = acknowledged_at.elapsed();
                if answer.is_ok_and(|a| a.status() == 401) {
                    world
                        .propagation_ms
                        .lock()
                        .unwrap()
                        .push(delay.as_millis() as u64);
                    if delay > bound {
                        world.violation(format!(
                            "victim-{victim} reached replica {} after {} ms (bound {} ms)",
                            replica.index,
                            delay.as_millis(),
                            bound.as_millis()
                        ));
                    }
                    break;
                }
                if replica.excused() {
                    break; // killed by the schedule meanwhile
                }
                if delay > bound + Duration::from_secs(5) {
                    world.violation(format!(
                        "victim-{victim} never reached replica {} ({} ms after acknowledgement)",
                        replica.index,
                        delay.as_millis()
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// One attempt to revoke a victim at a replica, by pushed event or admin call: whether it was
/// acknowledged. A refusal is expected only while Redis is unavailable (the rule could not be
/// shared, and the answer says so), or from a replica the schedule just killed; anything else
/// is a violation.
async fn revoke(world: &World, replica: &Replica, victim: usize, by_event: bool) -> bool {
    let user = format!("victim-{victim}");
    let outage = world.redis_unavailable(world.ms());
    let (answered, channel) = if by_event {
        let set = world.issuer.security_event().user(&user).sign();
        let answer = world
            .issuer
            .push_set(
                &format!("{}/ssf/events", replica.base),
                Some(&format!("Bearer {}", world.push_token)),
                &set,
            )
            .await;
        (answer.map(|answer| (answer.status, 202)), "pushed event")
    } else {
        // Signed now, by the key signing now.
        let admin = world
            .issuer
            .token()
            .app_only()
            .client("soak-admin")
            .roles(["Revocations.Write"])
            .sign();
        let answer = world
            .http
            .post(format!("{}/admin/revocations", replica.base))
            .bearer_auth(admin)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "subject": user }).to_string())
            .send()
            .await;
        (
            answer
                .map(|answer| (answer.status().as_u16(), 204))
                .map_err(|error| error.to_string()),
            "admin call",
        )
    };
    match answered {
        Ok((status, expected)) if status == expected => true,
        Ok((503, _)) if outage || world.redis_unavailable(world.ms()) => false,
        // "Deliver again": a receiver that cannot yet verify a SET (a key the transmitter began
        // signing with moments ago, and the receiver's key fetches in their cooldown) says so,
        // as RFC 8935 lets it. Counted, and still a violation if never acknowledged.
        Ok((503, _)) if by_event => {
            world.deliver_again.fetch_add(1, Ordering::Relaxed);
            false
        }
        Err(_) if replica.excused() => false,
        Ok((status, _)) => {
            world.violation(format!(
                "the {channel} revoking {user} at replica {} answered {status}",
                replica.index
            ));
            false
        }
        Err(error) => {
            world.violation(format!(
                "the {channel} revoking {user} at replica {} failed: {error}",
                replica.index
            ));
            false
        }
    }
}

/// After the run: every acknowledged revocation is enforced by every replica (the restarted
/// ones included), with tokens signed by the current key.
pub(crate) async fn final_sweep(world: &World) {
    let revoked: Vec<usize> = world
        .revocations
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, (_, ack))| ack.is_some())
        .map(|(victim, _)| *victim)
        .collect();
    let tokens = world.tokens();
    for victim in revoked {
        for replica in &world.replicas {
            let answer = world
                .http
                .get(format!("{}/orders", replica.base))
                .bearer_auth(&tokens.victims[victim])
                .send()
                .await;
            let (status, challenge) = match answer {
                Ok(answer) => (
                    answer.status().as_u16(),
                    answer
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned(),
                ),
                Err(_) => (0, String::new()),
            };
            // Refused because revoked, not for any other reason that would hide a lost rule.
            if status != 401 || !challenge.contains(r#"error_description="token revoked""#) {
                world.violation(format!(
                    "final sweep: replica {} answered {status} ({challenge}) for victim-{victim}, revoked and acknowledged",
                    replica.index
                ));
            }
        }
    }
    for replica in &world.replicas {
        let log = std::fs::read_to_string(&replica.log).unwrap_or_default();
        if log.contains("panicked") {
            world.violation(format!(
                "replica {} panicked (log {})",
                replica.index,
                replica.log.display()
            ));
        }
    }
}
