//! `parliament explore` and `parliament check ... --explore`: stateright's explorer over the
//! models, told in the paper's words; checked over HTTP and in a real headless browser
//! (Debian's Chromium driven by chromedriver over the W3C WebDriver protocol, spoken here
//! with a few lines of HTTP: `.ci/run` installs both).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1.
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A child process, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `parliament ARGS` and waits for its "explorer: URL" line: the process and the URL.
fn explorer(args: &[&str]) -> (Running, String) {
    let (running, url, _) = explorer_after(args);
    (running, url)
}

/// The same, with what it printed before that line.
fn explorer_after(args: &[&str]) -> (Running, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parliament"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("parliament runs");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut before = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        if let Some(u) = line.strip_prefix("explorer: ") {
            let url = u.split(' ').next().unwrap().to_string();
            return (running, url, before);
        }
        before.push(line);
    }
    panic!("no explorer: line in {before:?}");
}

/// One HTTP/1.1 request (the body as JSON when given): status and body.
fn http(method: &str, addr: SocketAddr, path: &str, body: Option<&Value>) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("cannot reach {addr}: {e}"),
        }
    };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the head, then the body by its length (chromedriver says "Connection: close" but
    // keeps the connection open), by its chunks, or to the end.
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|n| n.trim().parse::<usize>().unwrap());
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).unwrap();
        }
        None => {
            reader.read_to_end(&mut body).unwrap();
        }
    }
    let body = String::from_utf8_lossy(&body).to_string();
    let body = if lower.contains("transfer-encoding: chunked") {
        unchunk(&body)
    } else {
        body
    };
    (status, body)
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_state_that_does_not_exist_is_an_error_and_the_server_goes_on() {
    let addr = free_addr().to_string();
    let (_explorer, url) = explorer(&["explore", "synod", "--rounds", "1", "--addr", &addr]);
    let addr = addr_of(&url);
    // The initial state, then the actions from it, in the paper's words.
    let (status, body) = http("GET", addr, "/.states", None);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, body) = http("GET", addr, "/.states/0", None);
    assert_eq!(status, 200);
    let steps: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(steps[0]["action"], "priest 0's Retry timer fires");
    // No such action, no such initial state, not a path.
    for path in ["/.states/0/99", "/.states/7", "/.states/0/x"] {
        let (status, body) = http("GET", addr, path, None);
        assert_eq!(status, 404, "{path}");
        assert!(body.starts_with("Unable to"), "{path}: {body}");
    }
    // Still serving.
    let (status, body) = http("GET", addr, "/.status", None);
    assert_eq!(status, 200);
    assert!(body.contains("b3-respects-earlier-votes"), "{body}");
}

#[test]
fn a_counterexample_opens_in_the_explorer() {
    let addr = free_addr().to_string();
    let (_explorer, url, report) = explorer_after(&[
        "check",
        "synod",
        "--rounds",
        "1",
        "--bug",
        "ignore-last-votes",
        "--threads",
        "1",
        "--explore",
        "--addr",
        &addr,
    ]);
    let (base, path) = url.split_once("/#/steps/").expect("a path in the URL");
    let addr = addr_of(base);
    // The counterexample's last step and the ballots it ends with, as the report tells them.
    let at = report
        .iter()
        .position(|l| l.starts_with("counterexample to b3-respects-earlier-votes"))
        .expect("a counterexample");
    let steps: Vec<&str> = report[at + 1..]
        .iter()
        .map(|l| l.trim())
        .take_while(|l| !l.starts_with("then:"))
        .map(|l| l.split_once(". ").unwrap().1)
        .collect();
    let ballots = report[at + 1 + steps.len()]
        .trim()
        .strip_prefix("then: ")
        .unwrap();
    // The URL is the path of the initial state and as many actions.
    assert_eq!(path.split('/').count(), steps.len() + 1, "{url}");
    // The explorer's last step of that path is the counterexample's last.
    let (prefix, last) = path.rsplit_once('/').unwrap();
    let (status, body) = http("GET", addr, &format!("/.states/{prefix}"), None);
    assert_eq!(status, 200, "{body}");
    let next: Value = serde_json::from_str(&body).unwrap();
    let last: u64 = last.parse().unwrap();
    let step = next
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["actionIndex"] == last)
        .expect("the path's last action");
    let outcome = step["outcome"].as_str().unwrap();
    assert_eq!(
        outcome,
        format!("{}\n\nthen:\n{ballots}", steps.last().unwrap()),
        "{report:?}"
    );
}

/// A WebDriver session with headless Chromium.
struct Browser {
    driver: SocketAddr,
    session: String,
    _chromedriver: Running,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: apt-get install -y chromium chromium-driver (as .ci/run does)"
            );
        }
        let driver = free_addr();
        let chromedriver = Running(
            Command::new("/usr/bin/chromedriver")
                .arg(format!("--port={}", driver.port()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver runs"),
        );
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,800",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let (status, body) = http("POST", driver, "/session", Some(&caps));
        assert_eq!(status, 200, "{body}");
        let session = serde_json::from_str::<Value>(&body).unwrap()["value"]["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        Browser {
            driver,
            session,
            _chromedriver: chromedriver,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, text) = http(
            method,
            self.driver,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        );
        assert_eq!(status, 200, "{method} {path}: {text}");
        serde_json::from_str::<Value>(&text).unwrap()["value"].take()
    }

    fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The elements an XPath finds, waiting (a bounded while) for the page to show some.
    fn find(&self, xpath: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self.call(
                "POST",
                "/elements",
                Some(json!({"using": "xpath", "value": xpath})),
            );
            let ids: Vec<String> = found
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    e["element-6066-11e4-a52e-4f735466cecf"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            if !ids.is_empty() || Instant::now() > deadline {
                return ids;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn click(&self, xpath: &str) {
        let found = self.find(xpath);
        let id = found
            .first()
            .unwrap_or_else(|| panic!("nothing at {xpath}"));
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn text(&self, xpath: &str) -> String {
        let found = self.find(xpath);
        let id = found
            .first()
            .unwrap_or_else(|| panic!("nothing at {xpath}"));
        self.call("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn current_url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap().to_string()
    }

    fn screenshot(&self) -> Vec<u8> {
        use base64_png::decode;
        decode(self.call("GET", "/screenshot", None).as_str().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            "DELETE",
            self.driver,
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// Base64 (the screenshot WebDriver sends), decoded.
mod base64_png {
    pub fn decode(s: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        };
        let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
        bytes
            .chunks(4)
            .flat_map(|c| {
                let v: Vec<u32> = c.iter().map(|&b| u32::from(value(b))).collect();
                let n = v.iter().fold(0, |n, x| n << 6 | x) << (6 * (4 - v.len()));
                let out = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
                out.into_iter().take(v.len() - 1).collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The page, in a real browser: from the initial state, follow two actions (a client's
/// request reaches the president, which begins a ballot; a priest receives the
/// BeginBallot), and the current state tells the ballot and its vote in the paper's words.
/// With PARLIAMENT_SCREENSHOT=FILE, the page is saved there as a PNG (docs/explorer.png).
#[test]
fn the_explorer_page_follows_two_actions_in_a_browser() {
    let addr = free_addr().to_string();
    let (_explorer, url) = explorer(&[
        "explore",
        "parliament",
        "--clients",
        "1",
        "--proposers",
        "1",
        "--addr",
        &addr,
    ]);
    let browser = Browser::start();
    browser.goto(&format!("{url}#/steps"));
    // "Next Action Choices": the initial state, then its actions.
    browser.click("//h2[text()='Next Action Choices']/following-sibling::ul//a[text()='Init 0']");
    browser.click(
        "//h2[text()='Next Action Choices']/following-sibling::ul//a[starts-with(text(), 'priest 0 receives Request(')]",
    );
    browser.click(
        "//h2[text()='Next Action Choices']/following-sibling::ul//a[starts-with(text(), 'priest 1 receives BeginBallot(0.0, #0')]",
    );
    let path = browser.text("//h2[text()='Path of Actions']/following-sibling::ol");
    let lines: Vec<&str> = path.lines().collect();
    assert_eq!(lines.len(), 4, "{path}");
    assert_eq!(lines[..2], ["Pre-init", "Init 0"], "{path}");
    assert!(lines[2].starts_with("priest 0 receives Request("), "{path}");
    assert!(
        lines[3].starts_with("priest 1 receives BeginBallot(0.0, #0"),
        "{path}"
    );
    let state = browser.text("//h2[text()='Current State']/../following-sibling::div[2]");
    assert!(
        state.starts_with("priest 1 receives BeginBallot(0.0, #0"),
        "{state}"
    );
    assert!(state.contains("then:"), "{state}");
    assert!(state.contains("priest 1 applied []"), "{state}");
    assert!(
        state.contains(
            "[#0 ballot 0.0 by priest 0: [c3#1 cas x nil->1], quorum {0,1,2}, voted {0,1}, chosen]"
        ),
        "{state}"
    );
    // The URL names the path: the initial state, then the two actions.
    let at = browser.current_url();
    let steps = at.split_once("#/steps/").expect("a path").1;
    assert_eq!(steps.split('/').count(), 3, "{at}");
    if let Ok(file) = std::env::var("PARLIAMENT_SCREENSHOT") {
        std::fs::write(file, browser.screenshot()).unwrap();
    }
}
