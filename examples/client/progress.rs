//! Transfer progress on stdout: a bar redrawn in place on a terminal, one summary line per
//! transfer otherwise (so logs and pipes stay readable).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::limits::REDRAW_INTERVAL;

/// Tracks one transfer. Bytes skipped by a resume count towards the percentage but not
/// towards the rate, which measures this run only.
pub struct Progress {
    label: String,
    total: Option<u64>,
    offset: u64,
    done: u64,
    started: Instant,
    last_draw: Option<Instant>,
    terminal: bool,
    finished: bool,
}

impl Progress {
    /// `offset` is where a resumed transfer starts; `total` the full size if known.
    pub fn new(label: String, offset: u64, total: Option<u64>) -> Progress {
        Progress {
            label,
            total,
            offset,
            done: offset,
            started: Instant::now(),
            last_draw: None,
            terminal: std::io::stdout().is_terminal(),
            finished: false,
        }
    }

    /// Counts `n` more bytes and redraws if the last redraw is old enough.
    pub fn advance(&mut self, n: usize) {
        self.done += n as u64;
        if !self.terminal {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_none_or(|t| now.duration_since(t) >= REDRAW_INTERVAL)
        {
            self.last_draw = Some(now);
            self.draw(now);
        }
    }

    /// Final state: the full bar and a newline, or the summary line.
    pub fn finish(mut self) {
        self.finished = true;
        let now = Instant::now();
        if self.terminal {
            self.draw(now);
            println!();
            return;
        }
        let elapsed = now.duration_since(self.started);
        let moved = self.done - self.offset;
        let resumed = if self.offset > 0 {
            format!(", resumed at byte {}", self.offset)
        } else {
            String::new()
        };
        println!(
            "{}: {} bytes in {:.2} s ({}/s{resumed})",
            self.label,
            moved,
            elapsed.as_secs_f64(),
            human(rate(moved, elapsed)),
        );
    }

    fn draw(&self, now: Instant) {
        let elapsed = now.duration_since(self.started);
        let rate = rate(self.done - self.offset, elapsed);
        let line = match self.total {
            Some(total) if total > 0 => {
                let percent = self.done as f64 * 100.0 / total as f64;
                let left = total.saturating_sub(self.done);
                let eta = if rate > 0.0 {
                    clock(Duration::from_secs_f64(left as f64 / rate))
                } else {
                    "--:--".to_string()
                };
                format!(
                    "{} {percent:5.1}% {} of {} {}/s ETA {eta}",
                    self.label,
                    human(self.done as f64),
                    human(total as f64),
                    human(rate),
                )
            }
            _ => format!(
                "{} {} {}/s",
                self.label,
                human(self.done as f64),
                human(rate)
            ),
        };
        // `\x1b[K` clears what a longer previous line left behind.
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r{line}\x1b[K");
        let _ = out.flush();
    }
}

impl Drop for Progress {
    /// A transfer that failed mid-way ends the bar's line, so the error message that
    /// follows starts on a line of its own.
    fn drop(&mut self) {
        if self.terminal && !self.finished && self.last_draw.is_some() {
            println!();
        }
    }
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { bytes as f64 / secs } else { 0.0 }
}

/// 1536 -> "1.5 KiB".
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[0])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// 3725 s -> "1:02:05", 65 s -> "01:05".
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_use_binary_units() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(3.0 * 1024.0 * 1024.0), "3.0 MiB");
    }

    #[test]
    fn clock_shows_hours_only_when_needed() {
        assert_eq!(clock(Duration::from_secs(65)), "01:05");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }
}
