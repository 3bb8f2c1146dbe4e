// Steward console: search as you type. The search box stays a plain form that works without
// this script; with it, the box is a combobox (WAI-ARIA 1.2 pattern): typing fetches matches
// from this origin after a short pause, arrow keys move through them, Enter opens the one
// chosen (or submits the form when none is), Escape closes the list.
(() => {
  "use strict";
  const box = document.getElementById("q");
  const list = document.getElementById("live");
  const status = document.getElementById("live-status");
  if (!box || !list || !status) return;
  let timer = 0;
  let active = -1;
  let asked = 0;
  const options = () => Array.from(list.querySelectorAll("[role=option][data-href]"));
  const choose = (i) => {
    const opts = options();
    opts.forEach((el, j) => el.setAttribute("aria-selected", j === i ? "true" : "false"));
    active = i;
    if (i >= 0 && opts[i]) {
      box.setAttribute("aria-activedescendant", opts[i].id);
      opts[i].scrollIntoView({ block: "nearest" });
    } else {
      box.removeAttribute("aria-activedescendant");
    }
  };
  const close = () => {
    list.hidden = true;
    box.setAttribute("aria-expanded", "false");
    choose(-1);
  };
  const look = async () => {
    const q = box.value.trim();
    const mine = ++asked;
    if (q.length < 2) {
      list.textContent = "";
      status.textContent = "";
      close();
      return;
    }
    let resp;
    try {
      resp = await fetch("/console/search/live?q=" + encodeURIComponent(q), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
    } catch (e) {
      status.textContent = "Search is not reachable; press Enter to search.";
      return;
    }
    if (mine !== asked) return; // a later keystroke asked again
    if (resp.redirected || !resp.ok) {
      status.textContent = "Search failed; press Enter to search.";
      return;
    }
    list.innerHTML = await resp.text(); // escaped by the server's template
    const n = options().length;
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
    choose(-1);
    status.textContent = n === 0 ? "No customer matches." : n + (n === 1 ? " match" : " matches") + "; use the arrow keys to choose.";
  };
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(look, 200);
  });
  box.addEventListener("keydown", (e) => {
    const opts = options();
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!opts.length) return;
      e.preventDefault();
      list.hidden = false;
      box.setAttribute("aria-expanded", "true");
      const step = e.key === "ArrowDown" ? 1 : -1;
      choose((active + step + opts.length + (active < 0 && step < 0 ? 1 : 0)) % opts.length);
    } else if (e.key === "Enter" && active >= 0 && opts[active]) {
      e.preventDefault();
      window.location.assign(opts[active].dataset.href);
    } else if (e.key === "Escape") {
      close();
    }
  });
  // Enter on a chosen match opens it even where the browser submits the form on its own.
  if (box.form) {
    box.form.addEventListener("submit", (e) => {
      const opts = options();
      if (active >= 0 && opts[active]) {
        e.preventDefault();
        window.location.assign(opts[active].dataset.href);
      }
    });
  }
  list.addEventListener("click", (e) => {
    const opt = e.target.closest("[data-href]");
    if (opt) window.location.assign(opt.dataset.href);
  });
  box.addEventListener("blur", () => setTimeout(close, 150));
})();
