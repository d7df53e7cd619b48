//! The script's environment: profiles, `defaults.sh`, and the sysctls a
//! script sets, mapped onto `Config` (README §1.8, §3.2 item 2). A sysctl
//! or command we do not model skips the script with the reason.

use core::time::Duration;
use tcp_proto::{Config, EcnMode, Keepalive};

/// Which preset the script runs against.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Profile {
    /// `Config::linux()` plus what `defaults.sh` sets.
    Linux,
    /// `Config::rfc9293()` in the same sysctl environment.
    Rfc,
}

/// The host-wide settings a script's init and shell commands produce.
#[derive(Clone, Debug)]
pub struct World {
    /// The profile.
    pub profile: Profile,
    /// Base configuration for new sockets.
    pub cfg: Config,
    /// `tcp_keepalive_time` etc. (used when SO_KEEPALIVE is turned on).
    pub keepalive: Keepalive,
}

impl World {
    /// The starting point for `profile`, before any command.
    pub fn new(profile: Profile) -> World {
        let cfg = match profile {
            Profile::Linux => Config::linux(),
            Profile::Rfc => Config::rfc9293(),
        };
        World {
            profile,
            cfg,
            // Linux's defaults: 2 h, 75 s, 9 probes.
            keepalive: Keepalive {
                idle: Duration::from_secs(7200),
                interval: Duration::from_secs(75),
                probes: 9,
            },
        }
    }

    /// What `defaults.sh` sets (README §1.8): the sysctls apply under both
    /// profiles (they are the script's environment), so an `rfc` run
    /// differs from a `linux` one only where the RFC preset behaves
    /// differently.
    fn defaults_sh(&mut self) -> Result<(), String> {
        if self.profile == Profile::Linux {
            // Linux's tcp_slow_start: cwnd grows by every segment acknowledged.
            self.cfg.slow_start_limit = Some(0);
        }
        for (k, v) in [
            ("tcp_rmem", "4096 540000 15728640"),
            ("tcp_wmem", "4096 262144 4194304"),
            ("tcp_timestamps", "1"),
            ("tcp_syn_retries", "5"),
            ("tcp_synack_retries", "5"),
            ("tcp_slow_start_after_idle", "0"),
            ("tcp_ecn", "0"),
        ] {
            self.sysctl(k, v)?;
        }
        Ok(())
    }

    /// Applies one sysctl (the last path component names it).
    pub fn sysctl(&mut self, name: &str, value: &str) -> Result<(), String> {
        let key = name.rsplit(['/', '.']).next().unwrap_or(name);
        let v = value.trim().trim_matches('"');
        let n = || -> Result<u64, String> {
            v.split_whitespace()
                .next()
                .and_then(|x| {
                    x.strip_prefix("0x")
                        .map_or_else(|| x.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
                })
                .ok_or_else(|| format!("sysctl {key}={v}: not a number"))
        };
        let c = &mut self.cfg;
        match key {
            "tcp_timestamps" => c.timestamps = n()? != 0,
            "tcp_window_scaling" => c.window_scale = n()? != 0,
            "tcp_syn_retries" => c.syn_retries = n()? as u32,
            "tcp_synack_retries" => c.synack_retries = n()? as u32,
            "tcp_retries1" => c.retries1 = n()? as u32,
            "tcp_retries2" => c.max_retries = n()? as u32,
            "tcp_rfc1337" => c.rfc1337 = n()? != 0,
            "tcp_ecn" => {
                c.ecn = match n()? {
                    0 => EcnMode::Off,
                    1 => EcnMode::On,
                    _ => EcnMode::Accept,
                }
            }
            "tcp_fin_timeout" => c.fin_wait_2_timeout = Some(Duration::from_secs(n()?)),
            "tcp_keepalive_time" => self.keepalive.idle = Duration::from_secs(n()?),
            "tcp_keepalive_intvl" => self.keepalive.interval = Duration::from_secs(n()?),
            "tcp_keepalive_probes" => self.keepalive.probes = n()? as u32,
            "tcp_rmem" => {
                let f: Vec<usize> = v
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if let [_, def, max] = f[..] {
                    c.recv_buffer = def.max(usize::from(c.mss));
                    c.recv_buffer_max = max;
                }
            }
            "tcp_wmem" => {
                let f: Vec<usize> = v
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if let [_, def, _] = f[..] {
                    c.send_buffer = def.max(1);
                }
            }
            // Linux restarts from a smaller window after an idle RTO
            // (RFC 5681 §4.1); defaults.sh turns that off.
            "tcp_slow_start_after_idle" => c.slow_start_after_idle = n()? != 0,
            "tcp_min_tso_segs" => c.min_gso_segs = n()?.clamp(2, 255) as u8,
            // Settings whose Linux value is what we do anyway, or that only
            // tune machinery we do not have (TSO, pacing, metrics cache).
            "tcp_sack"
            | "tcp_dsack"
            | "tcp_fack"
            | "tcp_reordering"
            | "tcp_frto"
            | "tcp_congestion_control"
            | "tcp_early_retrans"
            | "tcp_recovery"
            | "tcp_tso_win_divisor"
            | "tcp_ecn_option"
            | "tcp_pacing_ss_ratio"
            | "tcp_pacing_ca_ratio"
            | "tcp_notsent_lowat"
            | "tcp_fastopen"
            | "tcp_fastopen_key"
            | "tcp_syncookies"
            | "tcp_autocorking"
            | "tcp_invalid_ratelimit"
            | "tcp_challenge_ack_limit"
            | "tcp_tw_reuse"
            | "tcp_max_syn_backlog"
            | "somaxconn"
            | "tcp_no_metrics_save"
            | "tcp_moderate_rcvbuf"
            | "tcp_adv_win_scale" => {}
            _ => return Err(format!("sysctl {key} is not modeled")),
        }
        Ok(())
    }

    /// Runs one back-quoted shell block, line by line.
    pub fn shell(&mut self, cmd: &str) -> Result<(), String> {
        // A backslash at the end of a line continues the command.
        let cmd = cmd.replace("\\\n", " ");
        for line in cmd.lines().flat_map(|l| l.split(';')) {
            let w: Vec<&str> = line.split_whitespace().collect();
            let Some(&prog) = w.first() else { continue };
            if prog.ends_with("defaults.sh") {
                self.defaults_sh()?;
            } else if prog.ends_with("set_sysctls.py") {
                for kv in &w[1..] {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| format!("set_sysctls.py {kv}"))?;
                    self.sysctl(k, v)?;
                }
            } else if prog == "sysctl" {
                let args: Vec<&str> = w[1..]
                    .iter()
                    .copied()
                    .filter(|a| !a.starts_with('-') && *a != ">" && !a.starts_with("/dev"))
                    .collect();
                let joined = args.join(" ");
                for kv in joined.split(" net.").map(|s| s.trim()) {
                    if let Some((k, v)) = kv.split_once('=') {
                        self.sysctl(k, v)?;
                    }
                }
            } else if prog == "echo"
                && w.get(2) == Some(&">")
                && w.get(3) == Some(&"/sys/module/tcp_cubic/parameters/hystart_detect")
            {
                // Linux's CUBIC detection bits: 1 ACK train, 2 delay; 3,
                // both, is its default. Our Linux HyStart is the delay
                // detection alone (`HyStartMode::Linux`).
                match w.get(1).and_then(|v| v.parse::<u32>().ok()) {
                    Some(2 | 3) => self.cfg.hystart = tcp_proto::cc::HyStartMode::Linux,
                    _ => return Err(format!("shell command `{}` is not modeled", line.trim())),
                }
            } else if prog.starts_with("/tmp/sysctl_restore")
                || prog == "nstat"
                || (prog == "ip" && w.get(1) == Some(&"tcp_metrics"))
            {
                // Restore scripts, counters, and the metrics cache: no effect here.
            } else {
                return Err(format!("shell command `{}` is not modeled", line.trim()));
            }
        }
        Ok(())
    }
}
