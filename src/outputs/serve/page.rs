//! The page `tune serve` answers at `/`: the study's report ([`crate::outputs::report::render`])
//! with the version it shows and a script that keeps it live. The script waits on
//! `/api/version?after=V` (answered as soon as the study changes, or after a while), then fetches
//! the page again and puts its body in place of this one, running the body's scripts again
//! (hover, sorting, the self-check); the scroll position stays.

use crate::outputs::report;
use crate::plan::StudyPlan;
use crate::storage::History;

/// The report of `history` as the live page of `version`.
pub fn render(plan: &StudyPlan, history: &History, version: u64) -> String {
    let page = report::render(plan, history);
    let head = format!(
        "<meta name=\"tune-version\" content=\"{version}\">\n<link rel=\"icon\" href=\"data:,\">\n{LIVE}</head>"
    );
    page.replacen("</head>", &head, 1)
        .replacen("<body>\n", &format!("<body>\n{BADGE}"), 1)
}

/// Where the page says whether it is live.
const BADGE: &str = r##"<div id="live" style="position:fixed;top:6px;right:10px;font-size:12px;color:#2a7d2a;background:#fff;padding:2px 6px;border:1px solid #ddd;border-radius:4px">live</div>
"##;

/// Keeps the page live (see the module's header). `data-live` on the root element says what it
/// did: the version shown and how many times the body was replaced (read by the browser test).
const LIVE: &str = r##"<script>
(function () {
  const root = document.documentElement;
  const meta = () => document.querySelector('meta[name="tune-version"]');
  let version = meta().content, updates = 0;
  function state(text, color) {
    const badge = document.getElementById("live");
    if (badge) { badge.textContent = text; badge.style.color = color; }
    root.dataset.live = JSON.stringify({ version: Number(version), updates: updates, state: text });
  }
  async function swap() {
    const html = await (await fetch("/", { cache: "no-store" })).text();
    const doc = new DOMParser().parseFromString(html, "text/html");
    const next = doc.querySelector('meta[name="tune-version"]').content;
    const body = document.adoptNode(doc.body);
    // A parsed page's scripts do not run: copies of them run when the body is put in place.
    body.querySelectorAll("script").forEach(old => {
      const s = document.createElement("script");
      s.textContent = old.textContent;
      old.replaceWith(s);
    });
    const x = window.scrollX, y = window.scrollY;
    document.body.replaceWith(body);
    window.scrollTo(x, y);
    meta().content = next;
    version = next;
    updates += 1;
  }
  async function wait() {
    let pause = 1000;
    try {
      const r = await fetch("/api/version?after=" + version, { cache: "no-store" });
      if (!r.ok) throw new Error("tune serve answered " + r.status);
      const v = String((await r.json()).version);
      // At most one new page a second while the study runs.
      if (v !== version) await swap();
      state("live · " + new Date().toLocaleTimeString(), "#2a7d2a");
    } catch (e) {
      state("not live: tune serve stopped?", "#b00");
      pause = 3000;
    }
    setTimeout(wait, pause);
  }
  window.addEventListener("load", () => { state("live", "#2a7d2a"); setTimeout(wait, 0); });
})();
</script>
"##;
