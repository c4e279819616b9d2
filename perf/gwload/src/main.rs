//! gwload — fan-in / fan-out load for the gateway's non-MQTT front-ends, measured at MQTT
//! subscribers, so STOMP, MQTT-SN and CoAP publishing can be compared with MQTT publishing.
//!
//! `--subs` MQTT 3.1.1 subscribers on `bench/#` count deliveries; `--pubs` publishers of the
//! chosen protocol publish fire-and-forget messages of `--size` bytes to `bench/{i}` for
//! `--duration` seconds, never more than `--window` messages per subscriber ahead of what was
//! delivered. One JSON line on stdout. Packets are built by hand (`wire`), not with the
//! gateway's crates, so the gateway is measured as any outside client sees it.

mod clients;
mod flow;
mod wire;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::exit;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use clients::{Proto, Publisher, PublisherSpec, Subscriber};
use flow::Flow;

const USAGE: &str = "usage: gwload <stomp|mqttsn|coap|mqtt> [--pubs 100] [--subs 1] [--size 64] [--duration 5]
              [--host 127.0.0.1] [--port P] [--mqtt-port 1883] [--window 20000] [--broker-pid PID]

  --pubs N        publishers of the chosen protocol, publisher i on topic bench/{i}
  --subs N        MQTT 3.1.1 subscribers on bench/# (QoS 0), counting deliveries
  --size BYTES    payload size
  --duration S    seconds of publishing (then up to 1 s for deliveries in flight)
  --port P        the front-end's port (stomp 61613, mqttsn 1884, coap 5683, mqtt 1883)
  --mqtt-port P   the gateway's MQTT port, for the subscribers
  --window N      messages per subscriber that may be outstanding (sent, not yet delivered)
  --broker-pid P  the gateway's pid, for broker_cpu_cores (else null)

Publishers send QoS 0 / fire-and-forget: STOMP SEND frames, MQTT-SN PUBLISH QoS 0 on a
REGISTERed topic id, CoAP NON POST /ps/bench/{i}?clientid=gwload{i} (a fresh UDP endpoint
every 65,536 messages, as message ids may not be reused within 145 s), MQTT PUBLISH QoS 0.
Prints one JSON line; exits 1 if a client cannot connect or nothing at all was delivered.";

fn usage_error(msg: &str) -> ! {
    eprintln!("gwload: {msg}\n{USAGE}");
    exit(2)
}

fn fail(msg: &str) -> ! {
    eprintln!("gwload: {msg}");
    exit(1)
}

#[derive(Debug)]
struct Opts {
    proto: Proto,
    pubs: usize,
    subs: usize,
    size: usize,
    duration: Duration,
    host: IpAddr,
    port: u16,
    mqtt_port: u16,
    window: u64,
    broker_pid: Option<u32>,
}

impl Opts {
    fn parse(args: &[String]) -> Self {
        let Some(proto) = args.first() else { usage_error("which protocol?") };
        if proto == "--help" || proto == "-h" || proto == "help" {
            println!("{USAGE}");
            exit(0);
        }
        let proto = Proto::parse(proto).unwrap_or_else(|| usage_error(&format!("unknown protocol {proto:?}")));
        let mut given: HashMap<String, String> = HashMap::new();
        let mut rest = args[1..].iter();
        while let Some(arg) = rest.next() {
            let Some(key) = arg.strip_prefix("--") else { usage_error(&format!("unexpected argument {arg:?}")) };
            let (key, value) = match key.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => {
                    let Some(v) = rest.next() else { usage_error(&format!("--{key} needs a value")) };
                    (key.to_string(), v.clone())
                }
            };
            given.insert(key, value);
        }
        fn take<T: std::str::FromStr>(given: &mut HashMap<String, String>, key: &str, default: T) -> T {
            match given.remove(key) {
                Some(v) => v.parse().unwrap_or_else(|_| usage_error(&format!("bad value for --{key}: {v:?}"))),
                None => default,
            }
        }
        let duration: f64 = take(&mut given, "duration", 5.0);
        if !(duration > 0.0 && duration < 86_400.0) {
            usage_error("--duration must be a positive number of seconds");
        }
        let opts = Self {
            proto,
            pubs: take(&mut given, "pubs", 100),
            subs: take(&mut given, "subs", 1),
            size: take(&mut given, "size", 64),
            duration: Duration::from_secs_f64(duration),
            host: take(&mut given, "host", IpAddr::from([127, 0, 0, 1])),
            port: take(&mut given, "port", proto.default_port()),
            mqtt_port: take(&mut given, "mqtt-port", 1883),
            window: take(&mut given, "window", 20_000),
            broker_pid: given
                .remove("broker-pid")
                .map(|v| v.parse().unwrap_or_else(|_| usage_error(&format!("bad value for --broker-pid: {v:?}")))),
        };
        if let Some(key) = given.keys().next() {
            usage_error(&format!("unknown option --{key}"));
        }
        if opts.pubs == 0 || opts.subs == 0 {
            usage_error("--pubs and --subs must be at least 1");
        }
        opts
    }
}

// ------------------------------------------------------------------------------- CPU from /proc

/// Clock ticks per second of /proc's utime/stime (USER_HZ, 100 on every mainstream Linux).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // fields after "(comm)": state is field 3, utime 14 and stime 15
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[derive(Debug)]
struct CpuMeter {
    start: Instant,
    ticks_per_s: f64,
    own: Option<f64>,
    broker_path: Option<String>,
    broker: Option<f64>,
}

impl CpuMeter {
    fn start(broker_pid: Option<u32>) -> Self {
        let broker_path = broker_pid.map(|pid| format!("/proc/{pid}/stat"));
        let broker = broker_path.as_deref().and_then(cpu_ticks);
        if let (Some(pid), None) = (broker_pid, broker) {
            eprintln!("gwload: cannot read /proc/{pid}/stat; broker_cpu_cores will be null");
        }
        Self {
            start: Instant::now(),
            ticks_per_s: clock_ticks(),
            own: cpu_ticks("/proc/self/stat"),
            broker_path,
            broker,
        }
    }

    /// (generator, broker) cores used since the start.
    fn cores(&self) -> (Option<f64>, Option<f64>) {
        let wall = self.start.elapsed().as_secs_f64();
        let rate = |before: Option<f64>, path: Option<&str>| {
            let now = cpu_ticks(path?)?;
            Some((now - before?) / self.ticks_per_s / wall)
        };
        (rate(self.own, Some("/proc/self/stat")), rate(self.broker, self.broker_path.as_deref()))
    }
}

// ------------------------------------------------------------------------------- JSON line

#[derive(Debug, Default)]
struct JsonLine(String);

impl JsonLine {
    fn key(&mut self, key: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "\"{key}\":");
    }
    fn str(&mut self, key: &str, v: &str) {
        self.key(key);
        let _ = write!(self.0, "\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
    }
    fn int(&mut self, key: &str, v: u64) {
        self.key(key);
        let _ = write!(self.0, "{v}");
    }
    fn num(&mut self, key: &str, v: Option<f64>) {
        self.key(key);
        match v {
            Some(v) if v.is_finite() => {
                let _ = write!(self.0, "{v:.3}");
            }
            _ => self.0.push_str("null"),
        }
    }
    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

// ------------------------------------------------------------------------------- the run

async fn run(opts: Opts) -> i32 {
    let tag = format!("gwl{}", std::process::id());
    let mqtt_addr = SocketAddr::new(opts.host, opts.mqtt_port);
    let pub_addr = SocketAddr::new(opts.host, opts.port);

    let mut subscribers = Vec::with_capacity(opts.subs);
    for i in 0..opts.subs {
        match Subscriber::connect(mqtt_addr, &format!("{tag}-sub{i}"), "bench/#").await {
            Ok(s) => subscribers.push(s),
            Err(e) => fail(&e.to_string()),
        }
    }
    let mut publishers = Vec::with_capacity(opts.pubs);
    for index in 0..opts.pubs {
        let spec = PublisherSpec { proto: opts.proto, addr: pub_addr, index, tag: tag.clone(), size: opts.size };
        match Publisher::connect(&spec).await {
            Ok(p) => publishers.push(p),
            Err(e) => fail(&e.to_string()),
        }
    }

    let flow = Arc::new(Flow::new(opts.subs as u64, opts.window));
    let counters: Vec<_> = subscribers.into_iter().map(|s| tokio::spawn(s.count(flow.clone()))).collect();
    let cpu = CpuMeter::start(opts.broker_pid);
    let start = Instant::now();
    let deadline = start + opts.duration;
    let tasks: Vec<_> = publishers.into_iter().map(|p| tokio::spawn(p.run(deadline, flow.clone()))).collect();
    let mut sent = 0;
    let mut keep = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok((n, open)) = task.await {
            sent += n;
            keep.push(open);
        }
    }
    let publish_s = start.elapsed().as_secs_f64();

    // Up to 1 s for deliveries in flight; stop early when all arrived or nothing moves.
    let expected = sent * opts.subs as u64;
    let drain_end = Instant::now() + Duration::from_secs(1);
    let mut last = flow.received();
    let mut last_progress = Instant::now();
    while last < expected && Instant::now() < drain_end && last_progress.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = flow.received();
        if now != last {
            last = now;
            last_progress = Instant::now();
        }
    }
    let got = flow.received();
    // deliveries per second over the time they took to arrive (publishing, plus the tail)
    let recv_s = publish_s.max((last_progress - start).as_secs_f64());
    let (gen_cores, broker_cores) = cpu.cores();
    for c in &counters {
        c.abort();
    }
    drop(keep);

    let mut j = JsonLine::default();
    j.str("tool", "gwload");
    j.str("proto", opts.proto.name());
    j.int("pubs", opts.pubs as u64);
    j.int("subs", opts.subs as u64);
    j.int("size", opts.size as u64);
    j.num("duration_s", Some(publish_s));
    j.int("sent", sent);
    j.int("received", got);
    j.num("sent_per_s", Some(sent as f64 / publish_s));
    j.num("recv_per_s", Some(got as f64 / recv_s));
    let loss = if expected > 0 { 100.0 * expected.saturating_sub(got) as f64 / expected as f64 } else { 0.0 };
    j.num("loss_pct", Some(loss));
    j.num("gen_cpu_cores", gen_cores);
    j.num("broker_cpu_cores", broker_cores);
    j.int("window", opts.window);
    j.int("flow_stalls", flow.stalls());
    j.int("flow_forgiven", flow.forgiven());
    println!("{}", j.finish());

    if sent > 0 && got == 0 {
        eprintln!("gwload: {sent} messages sent, none delivered to the MQTT subscribers");
        return 1;
    }
    0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Opts::parse(&args);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    let code = runtime.block_on(run(opts));
    runtime.shutdown_timeout(Duration::from_millis(200));
    exit(code);
}
