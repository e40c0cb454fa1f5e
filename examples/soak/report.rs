//! What the run measured: resident memory sampled over time, the report, the plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::world::{MEMORY_GROWTH_BOUND_KIB, PHASE_STARTS, PHASES, World};

/// Samples each replica's resident memory once a second.
pub(crate) async fn memory(world: Arc<World>) {
    let warm_end = world.start + (world.end - world.start).mul_f64(PHASE_STARTS[1]);
    let mut warm_recorded = false;
    while Instant::now() < world.end {
        let t = world.start.elapsed().as_secs_f64();
        for replica in &world.replicas {
            if let Some(kib) = replica.pid().and_then(resident_kib) {
                world.memory.lock().unwrap().push((t, replica.index, kib));
                if !warm_recorded && Instant::now() >= warm_end {
                    world.warm_rss.lock().unwrap().insert(replica.index, kib);
                }
            }
        }
        if Instant::now() >= warm_end {
            warm_recorded = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub(crate) fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// The report (Markdown) and whether the memory bound held.
pub(crate) fn report(world: &World) -> String {
    let total = (world.end - world.start).as_secs_f64();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Soak run: {} s, {} replicas, {} connections\n",
        world.config.seconds, world.config.replicas, world.config.connections
    );
    let _ = writeln!(
        out,
        "| phase | seconds | requests | req/s | p50 ms | p99 ms | p99.9 ms | max ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut stats = world.stats.lock().unwrap();
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    for (phase, name) in PHASES.iter().enumerate() {
        let start = PHASE_STARTS[phase];
        let end = PHASE_STARTS.get(phase + 1).copied().unwrap_or(1.0);
        let seconds = (end - start) * total;
        let stats = &mut stats[phase];
        stats.latencies_us.sort_unstable();
        let _ = writeln!(
            out,
            "| {name} | {seconds:.0} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0} |",
            stats.requests,
            stats.requests as f64 / seconds,
            percentile(&stats.latencies_us, 0.5),
            percentile(&stats.latencies_us, 0.99),
            percentile(&stats.latencies_us, 0.999),
            percentile(&stats.latencies_us, 1.0),
        );
        for (answer, count) in &stats.answers {
            *answers.entry(answer.clone()).or_default() += count;
        }
    }
    let _ = writeln!(out, "\n| request kind: answer | count |\n|---|---|");
    for (answer, count) in &answers {
        let _ = writeln!(out, "| {answer} | {count} |");
    }
    let mut delays = world.propagation_ms.lock().unwrap().clone();
    delays.sort_unstable();
    let acknowledged = world
        .revocations
        .lock()
        .unwrap()
        .values()
        .filter(|(_, ack)| ack.is_some())
        .count();
    let pick = |p: f64| {
        delays
            .get(((delays.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let _ = writeln!(
        out,
        "\nRevocations acknowledged: {acknowledged} ({} by admin call, {} by pushed event; {} \
         pushes answered 503 deliver-again outside the Redis outage and retried). \
         Propagation to each other replica, from the acknowledgement until it refuses (polled \
         every 5 ms): {} samples, p50 {} ms, p99 {} ms, max {} ms (bound {} ms).",
        world.acknowledged_by_admin.load(Ordering::Relaxed),
        world.acknowledged_by_event.load(Ordering::Relaxed),
        world.deliver_again.load(Ordering::Relaxed),
        delays.len(),
        pick(0.5),
        pick(0.99),
        delays.last().copied().unwrap_or(0),
        world.config.propagation_bound.as_millis(),
    );
    let _ = writeln!(
        out,
        "\n| replica | RSS after warm-up (MiB) | RSS at the end (MiB) | growth (MiB) |\n|---|---|---|---|"
    );
    let memory = world.memory.lock().unwrap();
    let warm = world.warm_rss.lock().unwrap();
    for replica in &world.replicas {
        let last: Vec<u64> = memory
            .iter()
            .filter(|(t, index, _)| *index == replica.index && *t >= total * 0.9)
            .map(|(_, _, kib)| *kib)
            .collect();
        let end = last.iter().copied().max().unwrap_or(0);
        let note = if replica.restarted.load(Ordering::Acquire) {
            " (restarted mid-run: not compared)"
        } else {
            ""
        };
        match warm.get(&replica.index) {
            Some(&start) => {
                let growth = end.saturating_sub(start);
                let _ = writeln!(
                    out,
                    "| {}{note} | {:.1} | {:.1} | {:.1} |",
                    replica.index,
                    start as f64 / 1024.0,
                    end as f64 / 1024.0,
                    growth as f64 / 1024.0
                );
                if note.is_empty() && growth > MEMORY_GROWTH_BOUND_KIB {
                    world.violation(format!(
                        "replica {} grew by {} MiB after warm-up (bound {} MiB)",
                        replica.index,
                        growth / 1024,
                        MEMORY_GROWTH_BOUND_KIB / 1024
                    ));
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "| {}{note} | - | {:.1} | - |",
                    replica.index,
                    end as f64 / 1024.0
                );
            }
        }
    }
    let violations = world.violations.lock().unwrap();
    let _ = writeln!(
        out,
        "\nViolations: {}",
        world.violation_count.load(Ordering::Relaxed)
    );
    for violation in violations.iter() {
        let _ = writeln!(out, "- {violation}");
    }
    out
}

/// Resident memory over time, one line per replica, as a small SVG.
pub(crate) fn memory_svg(world: &World) -> String {
    let memory = world.memory.lock().unwrap();
    let total = (world.end - world.start).as_secs_f64().max(1.0);
    let max_kib = memory
        .iter()
        .map(|(_, _, kib)| *kib)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (width, height, left, bottom) = (640.0, 240.0, 50.0, 30.0);
    let x = |t: f64| left + t / total * (width - left - 10.0);
    let y = |kib: f64| height - bottom - kib / (max_kib * 1.1) * (height - bottom - 10.0);
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="10">
<rect width="100%" height="100%" fill="white"/>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="10" x2="{left}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">seconds (phases 1 to {} marked)</text>
<text x="5" y="12">MiB</text>
<text x="{}" y="{}" text-anchor="end">{:.0}</text>
"#,
        height - bottom,
        width - 10.0,
        height - bottom,
        height - bottom,
        width / 2.0,
        height - 5.0,
        PHASES.len(),
        left - 4.0,
        y(max_kib) + 4.0,
        max_kib / 1024.0,
    );
    for (phase, start) in PHASE_STARTS.iter().enumerate() {
        let px = x(start * total);
        if phase > 0 {
            let _ = writeln!(
                svg,
                r##"<line x1="{px:.1}" y1="10" x2="{px:.1}" y2="{}" stroke="#ccc" stroke-dasharray="3,3"/>"##,
                height - bottom
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{}" fill="#888">{}</text>"##,
            px + 3.0,
            height - bottom - 4.0,
            phase + 1
        );
    }
    for fraction in [0.0, 0.5] {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{:.0}</text>"#,
            left - 4.0,
            y(max_kib * fraction) + 4.0,
            max_kib * fraction / 1024.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end">{total:.0}</text>"#,
        width - 10.0,
        height - bottom + 12.0
    );
    for replica in &world.replicas {
        let color = colors[replica.index % colors.len()];
        // One line per stretch the process ran: a gap of more than 2 s is a restart.
        let mut segments: Vec<Vec<String>> = Vec::new();
        let mut last_t = f64::NEG_INFINITY;
        for (t, _, kib) in memory
            .iter()
            .filter(|(_, index, _)| *index == replica.index)
        {
            if *t - last_t > 2.0 {
                segments.push(Vec::new());
            }
            last_t = *t;
            if let Some(segment) = segments.last_mut() {
                segment.push(format!("{:.1},{:.1}", x(*t), y(*kib as f64)));
            }
        }
        for points in segments {
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
                points.join(" ")
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" fill="{color}">replica {}</text>"#,
            left + 10.0 + 70.0 * replica.index as f64,
            20.0,
            replica.index
        );
    }
    svg.push_str("</svg>\n");
    svg
}
