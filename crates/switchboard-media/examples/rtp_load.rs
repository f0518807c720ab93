//! Load check: N sessions each playing a looping tone to one sink socket for a few seconds;
//! prints packets per second received and the CPU the process used.
//!
//! `cargo run --release -p switchboard-media --example rtp_load -- 1000 10`

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use switchboard_media::Pcm;
use switchboard_media::session::{PortPool, RtpConfig, RtpSocket};
use switchboard_rtp::{Law, MediaTarget};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let sessions: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let sink = tokio::net::UdpSocket::bind((localhost, 0)).await?;
    let sink_addr = sink.local_addr()?;
    let pool = PortPool::new(localhost, 20_000, 29_999);
    let tone: Pcm = (0..8_000)
        .map(|i| ((i as f32 * std::f32::consts::TAU * 440.0 / 8_000.0).sin() * 8_000.0) as i16)
        .collect::<Vec<_>>()
        .into();
    let mut handles = Vec::new();
    for _ in 0..sessions {
        let socket = RtpSocket::bind(&pool).await?;
        let (media, events) = socket.start(RtpConfig {
            target: MediaTarget::Fixed(sink_addr),
            law: Law::Mu,
            payload_type: 0,
            telephone_event_payload_type: Some(101),
        });
        media.play(tone.clone(), 0);
        handles.push((media, events));
    }
    let counter = tokio::spawn(async move {
        let mut buffer = [0u8; 2048];
        let mut count = 0u64;
        let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
        while let Ok(Ok(_)) = tokio::time::timeout_at(end, sink.recv_from(&mut buffer)).await {
            count += 1;
        }
        count
    });
    let (cpu_start, wall_start) = (cpu_seconds(), Instant::now());
    let received = counter.await.unwrap_or(0);
    let (cpu, wall) = (
        cpu_seconds() - cpu_start,
        wall_start.elapsed().as_secs_f64(),
    );
    println!(
        "{sessions} sessions: {:.0} packets/s received (ideal {}), CPU {:.0}% of one core",
        received as f64 / wall,
        sessions * 50,
        100.0 * cpu / wall
    );
    for (media, _) in &handles {
        media.close();
    }
    Ok(())
}
