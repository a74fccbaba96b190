//! The real function binaries under `cargo lambda watch`, invoked with `cargo lambda invoke`.

use crate::{free_port, repo_root, LocalAws};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn cargo_lambda() -> PathBuf {
    let bin = repo_root().join(".venv/bin/cargo-lambda");
    if !bin.exists() {
        panic!("{} is missing: run `make setup` first", bin.display());
    }
    bin
}

/// `cargo lambda watch` on a loopback port, with the functions' AWS pointed at `aws`. Killed,
/// with the function processes it started, when dropped.
/// Longest a single `cargo lambda invoke` may take, the function's first build included.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(600);

pub struct LambdaEmulator {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl LambdaEmulator {
    pub fn start(aws: &LocalAws, extra_env: &[(&str, &str)]) -> LambdaEmulator {
        Self::start_on(free_port(), aws, extra_env)
    }

    /// On `port`, chosen before moto starts (moto forwards Lambda invokes there).
    pub fn start_on(port: u16, aws: &LocalAws, extra_env: &[(&str, &str)]) -> LambdaEmulator {
        let log = std::env::temp_dir().join(format!("ecr-keeper-cargo-lambda-{}-{port}.log", std::process::id()));
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
        let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let mut command = Command::new(cargo_lambda());
        command
            .args(["lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", &port.to_string()])
            .current_dir(repo_root())
            .envs(aws.process_env())
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            // Its own process group, so dropping it also stops the function processes it runs.
            .process_group(0);
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start cargo lambda watch: {e}"));
        let mut emulator = LambdaEmulator { port, child, log };
        emulator.wait_ready();
        emulator
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("cargo lambda watch exited ({status}):\n{}", self.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cargo lambda watch did not listen within 60 s:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Invokes `function` with `event` (JSON); returns the function's answer, or its error text.
    pub fn invoke(&self, function: &str, event: &serde_json::Value) -> Result<serde_json::Value, String> {
        let file = std::env::temp_dir().join(format!("ecr-keeper-event-{}-{}.json", std::process::id(), free_port()));
        std::fs::write(&file, event.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(cargo_lambda())
            .args([
                "lambda",
                "invoke",
                function,
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "--output-format",
                "json",
            ])
            .arg("--data-file")
            .arg(&file)
            .current_dir(repo_root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run cargo lambda invoke: {e}"));
        // A function that fails to build leaves `invoke` waiting forever: bound it (the first
        // invocation of a function includes its build).
        let pid = child.id();
        let (done, waited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if waited.recv_timeout(INVOKE_TIMEOUT).is_err() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        });
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("cargo lambda invoke: {e}"));
        let _ = done.send(());
        let _ = std::fs::remove_file(&file);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            serde_json::from_str(&stdout).map_err(|e| format!("not JSON ({e}): {stdout}"))
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        let pgid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{pgid}")]).status();
        std::thread::sleep(Duration::from_millis(200));
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A sample event from `events/`, with its ResponseURL pointed at `response_url`.
pub fn sample_event(name: &str, response_url: &str) -> serde_json::Value {
    let path = repo_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut event: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    event["ResponseURL"] = serde_json::json!(response_url);
    event
}
