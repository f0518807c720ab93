//! The receiving side of a few calls' RTP: one UDP socket that the probe calls' SDP points at,
//! read by a dedicated thread (blocking `recv_from`, so a busy async runtime in this process
//! does not add to what is measured), packets told apart by their source address (each call has
//! its own engine RTP port).
//!
//! Jitter is the deviation of each inter-arrival time from the 20 ms packet interval, over
//! consecutive packets of a stream: what a receiver's jitter buffer has to absorb. A slot the
//! engine skipped (its pacing ran late; the timestamp then jumps by 320) shows as a 40 ms gap,
//! that is a 20 ms deviation, and is also counted on its own.
//!
//! The baseline is a pacer thread of this process sending the same packets every 20 ms on
//! absolute deadlines to the same socket: what the probe measures for a sender that only sleeps
//! and sends, with the machine as loaded as it is during the run.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One datagram as it arrived.
struct Arrival {
    at: Instant,
    sequence: u16,
    timestamp: u32,
}

/// A receiver thread collecting RTP until stopped, and the baseline pacer.
pub struct RtpProbe {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<HashMap<SocketAddr, Vec<Arrival>>>,
    pacer: SocketAddr,
    pacer_thread: std::thread::JoinHandle<()>,
}

/// What the probe streams showed.
#[derive(Debug, Default)]
pub struct JitterReport {
    pub streams: usize,
    pub packets: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Packets sent one slot late (timestamp step 320 or more instead of 160).
    pub skipped_slots: usize,
    /// Sequence numbers that never arrived.
    pub lost: usize,
}

impl RtpProbe {
    pub fn start() -> RtpProbe {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the RTP probe");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a read timeout");
        let port = socket.local_addr().expect("its address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || receive(&socket, &flag));
        let sender = UdpSocket::bind("127.0.0.1:0").expect("bind the pacer");
        let pacer = sender.local_addr().expect("its address");
        let flag = stop.clone();
        let pacer_thread = std::thread::spawn(move || pace(&sender, port, &flag));
        RtpProbe {
            port,
            stop,
            thread,
            pacer,
            pacer_thread,
        }
    }

    /// Stops receiving; the engine's streams and the baseline pacer's.
    pub fn stop(self) -> (JitterReport, JitterReport) {
        self.stop.store(true, Ordering::Relaxed);
        let mut streams = self.thread.join().unwrap_or_default();
        self.pacer_thread.join().ok();
        let baseline: HashMap<_, _> = streams.remove_entry(&self.pacer).into_iter().collect();
        (report(&streams), report(&baseline))
    }
}

/// Sends a 172-byte PCMA packet to `port` every 20 ms on absolute deadlines until stopped.
fn pace(socket: &UdpSocket, port: u16, stop: &AtomicBool) {
    let mut packet = [0xD5u8; 172];
    packet[0] = 0x80;
    packet[1] = 8;
    let start = Instant::now();
    let mut slot: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let sequence = (slot & 0xFFFF) as u16;
        packet[2..4].copy_from_slice(&sequence.to_be_bytes());
        packet[4..8].copy_from_slice(&slot.wrapping_mul(160).to_be_bytes());
        socket.send_to(&packet, ("127.0.0.1", port)).ok();
        slot = slot.wrapping_add(1);
        let deadline = start + Duration::from_millis(20 * u64::from(slot));
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
}

fn receive(socket: &UdpSocket, stop: &AtomicBool) -> HashMap<SocketAddr, Vec<Arrival>> {
    let mut streams: HashMap<SocketAddr, Vec<Arrival>> = HashMap::new();
    let mut buffer = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((length, from)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let at = Instant::now();
        let bytes = &buffer[..length];
        // RTP v2 audio (PCMA, payload type 8) only: telephone-event packets come in bursts.
        if length < 12 || bytes[0] >> 6 != 2 || bytes[1] & 0x7F != 8 {
            continue;
        }
        streams.entry(from).or_default().push(Arrival {
            at,
            sequence: u16::from_be_bytes([bytes[2], bytes[3]]),
            timestamp: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        });
    }
    streams
}

fn percentile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * share).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(streams: &HashMap<SocketAddr, Vec<Arrival>>) -> JitterReport {
    let mut deviations = Vec::new();
    let (mut skipped_slots, mut lost, mut packets) = (0, 0, 0);
    for arrivals in streams.values() {
        packets += arrivals.len();
        for pair in arrivals.windows(2) {
            let gap = pair[1].at.duration_since(pair[0].at).as_secs_f64() * 1000.0;
            deviations.push((gap - 20.0).abs());
            let step = pair[1].sequence.wrapping_sub(pair[0].sequence);
            lost += usize::from(step.saturating_sub(1));
            if pair[1].timestamp.wrapping_sub(pair[0].timestamp) > 160 * u32::from(step.max(1)) {
                skipped_slots += 1;
            }
        }
    }
    deviations.sort_by(f64::total_cmp);
    JitterReport {
        streams: streams.len(),
        packets,
        p50_ms: percentile(&deviations, 0.50),
        p99_ms: percentile(&deviations, 0.99),
        max_ms: deviations.last().copied().unwrap_or(0.0),
        skipped_slots,
        lost,
    }
}
