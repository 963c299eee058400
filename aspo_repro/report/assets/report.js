// The report's behaviour: views by URL hash, the pair browser (pages loaded lazily as scripts, which a
// page opened from disk may load where fetch() may not), outputs side by side, provenance on click.
// Plain DOM: no framework, nothing fetched from the network.
"use strict";

window.ASPO = (function () {
  const received = {};
  const waiting = {};
  function receive(key, value) {
    received[key] = value;
    (waiting[key] || []).forEach(function (resolve) { resolve(value); });
    delete waiting[key];
  }
  function load(key) {
    if (key in received) return Promise.resolve(received[key]);
    return new Promise(function (resolve, reject) {
      const first = !waiting[key];
      (waiting[key] = waiting[key] || []).push(resolve);
      if (!first) return;
      const script = document.createElement("script");
      script.src = key + ".js";
      script.onerror = function () { reject(new Error("could not load " + script.src)); };
      document.head.appendChild(script);
    });
  }
  return { receive: receive, load: load };
})();

(function () {
  const data = JSON.parse(document.getElementById("aspo-data").textContent);

  function element(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(function ([name, value]) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  // ------------------------------------------------------------------ views
  function showView() {
    const name = (location.hash || "#tables").slice(1);
    const known = document.getElementById(name) && document.getElementById(name).classList.contains("view");
    const shown = known ? name : "tables";
    document.querySelectorAll("section.view").forEach(function (section) {
      section.hidden = section.id !== shown;
    });
    document.querySelectorAll("nav a").forEach(function (link) {
      link.classList.toggle("active", link.dataset.view === shown);
    });
    window.scrollTo(0, 0);
  }
  window.addEventListener("hashchange", showView);
  window.addEventListener("load", function () { window.scrollTo(0, 0); });  // not to the section's anchor
  showView();

  // ------------------------------------------------------------------ provenance on click
  document.querySelectorAll("table.results tbody tr").forEach(function (row) {
    row.querySelectorAll("td.cell").forEach(function (cell) {
      cell.addEventListener("click", function () { showProvenance(row.dataset.runs.split(" ").filter(Boolean)); });
    });
  });
  function showProvenance(runs) {
    const box = document.getElementById("provenance-selected");
    box.replaceChildren();
    document.querySelectorAll("table.provenance tr.selected").forEach(function (tr) { tr.classList.remove("selected"); });
    if (!runs.length) {
      box.appendChild(element("p", { text: "This row shows published numbers only: no run of this project." }));
    } else {
      box.appendChild(element("p", { text: "The cell you clicked averages " + runs.length + " run(s), highlighted below:" }));
      runs.forEach(function (label) {
        const row = document.getElementById("run-" + label);
        if (row) row.classList.add("selected");
      });
    }
    location.hash = "#provenance";
  }

  // ------------------------------------------------------------------ pair browser
  const pairState = { set: 0, weight: null, order: [], position: 0, index: null };
  const pairModel = document.getElementById("pair-model");

  function pairSet() { return data.pairSets[pairState.set]; }
  function pairKey(name) { return "pairs/" + pairSet().model + "/" + name; }

  function selectPairSet() {
    pairState.set = Number(pairModel.value);
    const set = pairSet();
    const weight = document.getElementById("pair-weight");
    weight.replaceChildren.apply(weight, set.weights.map(function (label) {
      return element("option", { value: label, text: set.weightNames[label] || label });
    }));
    pairState.weight = set.weights.length ? set.weights[set.weights.length - 1] : null;
    weight.value = pairState.weight || "";
    document.getElementById("pair-notes").textContent = set.notes.join("; ");
    renderDiagnosis(set);
    window.ASPO.load(pairKey("index")).then(function (index) {
      pairState.index = index;
      const tags = Array.from(new Set(index.flatMap(function (pair) { return pair.tags; }))).sort();
      const select = document.getElementById("pair-tag");
      select.replaceChildren(element("option", { value: "", text: "any" }));
      tags.forEach(function (tag) { select.appendChild(element("option", { value: tag, text: tag })); });
      reorder();
    });
  }

  function reorder() {
    const filter = document.getElementById("pair-filter").value;
    const tag = document.getElementById("pair-tag").value;
    let order = pairState.index.filter(function (pair) { return !tag || pair.tags.includes(tag); });
    if (filter === "disagree") {
      const weight = pairState.weight;
      order = order.filter(function (pair) { return weight in pair.disagreement; })
        .sort(function (a, b) { return b.disagreement[weight] - a.disagreement[weight]; });
    }
    pairState.order = order;
    pairState.position = 0;
    renderPair();
  }

  function renderPair() {
    const view = document.getElementById("pair-view");
    const position = document.getElementById("pair-position");
    if (!pairState.order.length) {
      position.textContent = "no pair matches";
      view.replaceChildren(element("p", { text: "No pair matches these filters (the weights-against-verdicts order needs an answer with both a correct and a hallucinated sentence)." }));
      return;
    }
    const entry = pairState.order[pairState.position];
    position.textContent = "pair " + (pairState.position + 1) + " of " + pairState.order.length;
    window.ASPO.load(pairKey("page-" + String(entry.page).padStart(4, "0"))).then(function (page) {
      const pair = page.find(function (p) { return p.i === entry.i; });
      view.replaceChildren(pairCard(pair, entry));
    });
  }

  function shade(weight) {
    return "rgba(31, 119, 180, " + (0.08 + 0.6 * weight).toFixed(3) + ")";
  }

  function pairCard(pair, entry) {
    const set = pairSet();
    const weight = pairState.weight;
    const images = element("div", { class: "pair-images" }, pair.images.map(function (src, k) {
      return element("figure", {}, [
        element("img", { src: "pairs/" + set.model + "/" + src, alt: k ? "noised image" : "clean image", class: "pair-image" }),
        element("figcaption", { text: k ? "noised (the rejected answer's input; illustration)" : "clean (the chosen answer's input)" }),
      ]);
    }));
    const chosen = element("div", { class: "answer chosen" });
    let cursor = 0;
    pair.sentences.forEach(function (sentence) {
      if (sentence.start > cursor) chosen.appendChild(document.createTextNode(pair.chosen.slice(cursor, sentence.start)));
      const w = weight in sentence.weights ? sentence.weights[weight] : null;
      const span = element("span", { class: "sentence" + (sentence.verdict ? " " + sentence.verdict : ""), text: sentence.text,
        title: Object.entries(sentence.weights).map(function ([k, v]) { return k + " " + v.toFixed(3); }).join(", ")
          + (sentence.verdict ? "; judge: " + sentence.verdict : "") });
      if (w !== null) span.style.backgroundColor = shade(w);
      chosen.appendChild(span);
      if (w !== null) chosen.appendChild(element("sub", { class: "weight", text: "w=" + w.toFixed(2) }));
      if (sentence.verdict) chosen.appendChild(element("span", { class: "verdict verdict-" + sentence.verdict, text: sentence.verdict === "correct" ? "✓" : "✗" }));
      cursor = sentence.end;
    });
    if (cursor < pair.chosen.length) chosen.appendChild(document.createTextNode(pair.chosen.slice(cursor)));
    const facts = ["id " + pair.id, "tags: " + (entry.tags.join(", ") || "none")];
    if (weight in entry.disagreement) facts.push("mean " + weight + " weight of hallucinated − correct sentences: " + entry.disagreement[weight].toFixed(3));
    return element("article", { class: "pair", "data-pair": String(pair.i) }, [
      images,
      element("div", { class: "pair-text" }, [
        element("p", { class: "small", text: facts.join(" · ") }),
        element("h4", { text: "Prompt" }), element("pre", { class: "prompt", text: pair.prompt }),
        element("h4", { text: "Chosen (shaded by " + (weight || "no weight") + ")" }), chosen,
        element("h4", { text: "Rejected" }), element("div", { class: "answer rejected", text: pair.rejected }),
      ]),
    ]);
  }

  function renderDiagnosis(set) {
    const box = document.getElementById("pair-diagnosis");
    box.replaceChildren();
    if (!set.diagnosis.length) return;
    box.appendChild(element("h3", { text: "This preference set measured against the judge (prefs diagnose)" }));
    const [header, ...rows] = set.diagnosis;
    box.appendChild(element("table", { class: "diagnosis" }, [
      element("thead", {}, [element("tr", {}, header.map(function (h) { return element("th", { text: h }); }))]),
      element("tbody", {}, rows.map(function (row) { return element("tr", {}, row.map(function (v) { return element("td", { text: v }); })); })),
    ]));
  }

  if (pairModel) {
    pairModel.addEventListener("change", selectPairSet);
    document.getElementById("pair-weight").addEventListener("change", function (event) {
      pairState.weight = event.target.value;
      if (document.getElementById("pair-filter").value === "disagree") reorder(); else renderPair();
    });
    document.getElementById("pair-filter").addEventListener("change", reorder);
    document.getElementById("pair-tag").addEventListener("change", reorder);
    document.getElementById("pair-prev").addEventListener("click", function () {
      if (pairState.position > 0) { pairState.position -= 1; renderPair(); }
    });
    document.getElementById("pair-next").addEventListener("click", function () {
      if (pairState.position + 1 < pairState.order.length) { pairState.position += 1; renderPair(); }
    });
    selectPairSet();
  }

  // ------------------------------------------------------------------ outputs side by side
  const sampleState = { set: 0, position: 0 };
  const sampleSelect = document.getElementById("sample-set");

  function renderSample() {
    const set = data.samples[sampleState.set];
    const item = set.items[sampleState.position];
    const judged = Object.values(item.answers).some(function (a) { return a && a.sentences; });
    document.getElementById("sample-position").textContent = "item " + (sampleState.position + 1) + " of " + set.items.length;
    const columns = set.methods.map(function (method) {
      const answer = item.answers[method];
      const body = element("div", { class: "answer" });
      if (!answer) body.textContent = "(no answer logged)";
      else if (answer.sentences) {
        answer.sentences.forEach(function (sentence) {
          body.appendChild(element("span", { class: "sentence " + sentence.verdict, text: sentence.text }));
          body.appendChild(element("span", { class: "verdict verdict-" + sentence.verdict, title: sentence.verdict,
            text: "\u00a0" + (sentence.verdict === "correct" ? "✓" : sentence.verdict === "hallucination" ? "✗" : "?") }));
          body.appendChild(document.createTextNode(" "));
        });
      } else {
        body.textContent = answer.text;
        if (item.target !== null && !judged) {
          const plain = function (text) { return String(text).trim().toLowerCase().replace(/\.$/, ""); };
          const right = plain(answer.prediction || answer.text) === plain(item.target);
          body.appendChild(element("span", { class: "verdict verdict-" + (right ? "correct" : "hallucination"), text: right ? " ✓" : " ✗" }));
        }
      }
      return element("div", { class: "output", "data-method": method }, [
        element("h4", { text: method }), body, element("p", { class: "small", text: set.runs[method] || "" }),
      ]);
    });
    const expected = item.target !== null && !judged ? "; expected answer: " + item.target : "";
    const head = [element("p", { class: "small", text: item.task + ", document " + item.doc_id + expected }),
      element("pre", { class: "prompt", text: item.question })];
    document.getElementById("sample-view").replaceChildren(element("article", { class: "sample" }, [
      item.image ? element("img", { src: "samples/" + set.model + "/" + item.image, alt: "benchmark image", class: "pair-image" }) : null,
      element("div", { class: "sample-text" }, head.concat([element("div", { class: "outputs" }, columns)])),
    ]));
  }

  if (sampleSelect) {
    sampleSelect.addEventListener("change", function () { sampleState.set = Number(sampleSelect.value); sampleState.position = 0; renderSample(); });
    document.getElementById("sample-prev").addEventListener("click", function () {
      if (sampleState.position > 0) { sampleState.position -= 1; renderSample(); }
    });
    document.getElementById("sample-next").addEventListener("click", function () {
      if (sampleState.position + 1 < data.samples[sampleState.set].items.length) { sampleState.position += 1; renderSample(); }
    });
    renderSample();
  }
})();
