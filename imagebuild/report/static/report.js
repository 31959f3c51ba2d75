// The gallery: cards rendered from the JSON blob in the page, a chunk at a
// time as the reader scrolls, so that 10,000 targets stay responsive. Every
// string comes from a manifest or a lock and is set as text, never as markup.
(function () {
  "use strict";

  var CHUNK = 60;
  var STATUS_LABELS = {
    keep: "up to date",
    restore: "restore from cache",
    generate: "to generate",
    derive: "to derive",
    removed: "removed"
  };
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var cards = data.cards;
  var byKey = new Map();
  cards.forEach(function (card, index) {
    byKey.set(card.key, index);
  });
  var grid = document.getElementById("cards");
  var earlier = document.getElementById("earlier");
  var later = document.getElementById("later");
  var filters = {
    search: document.getElementById("search"),
    tag: document.getElementById("filter-tag"),
    provider: document.getElementById("filter-provider"),
    status: document.getElementById("filter-status"),
    change: document.getElementById("filter-change")
  };
  var shown = [];

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (attributes[name] !== null && attributes[name] !== undefined) {
        node.setAttribute(name, attributes[name]);
      }
    });
    append(node, children || []);
    return node;
  }

  function append(node, children) {
    children.forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.append(child);
      }
    });
  }

  function cardId(key) {
    return "t-" + key;
  }

  function haystack(card) {
    if (card.text === undefined) {
      card.text = [card.name, card.prompt, card.provider, card.model]
        .concat(card.tags, card.reasons, card.transform)
        .join("\n")
        .toLowerCase();
    }
    return card.text;
  }

  function matches(card, wanted) {
    return (
      (!wanted.tag || card.tags.indexOf(wanted.tag) >= 0) &&
      (!wanted.provider || card.provider === wanted.provider) &&
      (!wanted.status || card.status === wanted.status) &&
      (!wanted.change || card.change === wanted.change) &&
      (!wanted.search || haystack(card).indexOf(wanted.search) >= 0)
    );
  }

  function apply() {
    var wanted = {
      search: filters.search.value.trim().toLowerCase(),
      tag: filters.tag.value,
      provider: filters.provider.value,
      status: filters.status.value,
      change: filters.change.value
    };
    shown = [];
    cards.forEach(function (card, index) {
      if (matches(card, wanted)) {
        shown.push(index);
      }
    });
    renderFrom(0);
    document.getElementById("shown").textContent =
      "showing " + shown.length + " of " + cards.length;
  }

  // The page holds a window of the matching cards, shown[first] up to
  // shown[last - 1], grown a chunk at a time at either end as the reader
  // scrolls towards it. A jump far away starts a new window there instead
  // of building every card on the way.
  var first = 0;
  var last = 0;

  function renderFrom(position) {
    grid.replaceChildren();
    first = last = position;
    renderLater(position);
  }

  function renderLater(position) {
    var end = Math.min(shown.length, Math.max(last + CHUNK, position + 1));
    var chunk = document.createDocumentFragment();
    for (; last < end; last++) {
      chunk.append(cardElement(cards[shown[last]]));
    }
    grid.append(chunk);
    watch();
  }

  function renderEarlier() {
    var start = Math.max(0, first - CHUNK);
    var chunk = document.createDocumentFragment();
    for (var position = start; position < first; position++) {
      chunk.append(cardElement(cards[shown[position]]));
    }
    first = start;
    // Keep the cards in view where they are (scroll anchoring, done here
    // because not every browser does it and the sticky header confuses it).
    var anchor = grid.firstElementChild;
    var top = anchor ? anchor.getBoundingClientRect().top : 0;
    grid.prepend(chunk);
    if (anchor) {
      window.scrollBy(0, anchor.getBoundingClientRect().top - top);
    }
    watch();
  }

  function watch() {
    // Observing again reports the sentinels' positions afresh: the next
    // chunk comes at once while the window is still shorter than the screen.
    [earlier, later].forEach(function (sentinel) {
      edges.unobserve(sentinel);
      edges.observe(sentinel);
    });
  }

  var edges = new IntersectionObserver(
    function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) {
          return;
        }
        if (entry.target === later && last < shown.length) {
          renderLater(last);
        } else if (entry.target === earlier && first > 0) {
          renderEarlier();
        }
      });
    },
    { rootMargin: "1500px 0px" }
  );

  function picture(image, alt, missing) {
    var source = image && (image.thumb || image.href);
    if (!source) {
      return element("span", { class: "placeholder" }, [image && image.href ? "no preview" : missing]);
    }
    return element("img", {
      src: source,
      alt: alt,
      loading: "lazy",
      decoding: "async",
      width: image.width,
      height: image.height
    });
  }

  function media(card) {
    var image = card.images[0] || card.before[0];
    var content = picture(image, card.name, card.status === "removed" ? "not in the cache" : "not built");
    if (image && image.href) {
      return element("a", { class: "media", href: image.href, target: "_blank" }, [content]);
    }
    return element("div", { class: "media" }, [content]);
  }

  function comparison(card, index) {
    var before = card.before[index];
    var after = card.images[index];
    var box = element("div", { class: "compare", "data-mode": "slider" });
    var modes = element("div", { class: "modes" });
    [
      ["slider", "slider"],
      ["side", "side by side"],
      ["diff", "difference"]
    ].forEach(function (mode) {
      var button = element("button", {
        type: "button",
        "data-mode": mode[0],
        "aria-pressed": String(mode[0] === "slider")
      }, [mode[1]]);
      modes.append(button);
    });
    var old = picture(before, card.name + " before", "not in the cache");
    old.classList.add("before");
    var current = picture(after, card.name + " after", "not built");
    current.classList.add("after");
    current.style.clipPath = "inset(0 0 0 50%)";
    var divider = element("div", { class: "divider", style: "left: 50%" });
    var frame = element("div", { class: "frame" }, [
      old,
      current,
      divider,
      element("span", { class: "label label-before" }, ["before"]),
      element("span", { class: "label label-after" }, ["after"])
    ]);
    var difference = before.diff
      ? element("img", { class: "difference", src: before.diff, alt: card.name + " difference", loading: "lazy" })
      : element("span", { class: "difference placeholder" }, ["no difference image"]);
    var stage = element("div", { class: "stage" }, [frame, difference]);
    var wipe = element("input", {
      class: "wipe",
      type: "range",
      min: "0",
      max: "100",
      value: "50",
      "aria-label": card.name + ": before / after"
    });
    wipe.addEventListener("input", function () {
      current.style.clipPath = "inset(0 0 0 " + wipe.value + "%)";
      divider.style.left = wipe.value + "%";
    });
    modes.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) {
        return;
      }
      box.setAttribute("data-mode", button.getAttribute("data-mode"));
      modes.querySelectorAll("button").forEach(function (other) {
        other.setAttribute("aria-pressed", String(other === button));
      });
    });
    var notes = ["before: " + data.baselines[card.section]];
    if (typeof before.differs === "number") {
      notes.push((before.differs * 100).toFixed(1) + "% of pixels differ");
    }
    if (after && before.width && (before.width !== after.width || before.height !== after.height)) {
      notes.push("size " + before.width + "×" + before.height + " → " + after.width + "×" + after.height);
    }
    box.append(modes, stage, wipe, element("p", { class: "note" }, [notes.join(" · ")]));
    return box;
  }

  function links(label, keys) {
    if (!keys.length) {
      return [];
    }
    var items = [label + " "];
    keys.forEach(function (key) {
      var name = byKey.has(key) ? cards[byKey.get(key)].name : key;
      items.push(element("a", { href: "#" + cardId(key), "data-key": key }, [name]));
    });
    return items;
  }

  function sizeText(image) {
    if (!image || !image.width) {
      return null;
    }
    var kilobytes = image.bytes ? " · " + Math.max(1, Math.round(image.bytes / 1024)) + " kB" : "";
    return image.width + "×" + image.height + kilobytes;
  }

  function costText(card) {
    var parts = [];
    if (typeof card.cost === "number") {
      parts.push("$" + card.cost.toFixed(4));
    }
    if (typeof card.estimate === "number" && card.estimate > 0) {
      parts.push("next build ~$" + card.estimate.toFixed(4));
    } else if (card.status === "generate" && card.estimate === null) {
      parts.push("next build: price unknown");
    }
    return parts.join(" · ") || null;
  }

  function facts(card) {
    var list = element("dl", { class: "facts" });
    [
      ["provider", card.provider],
      ["model", card.model],
      ["transform", card.transform.join(" → ")],
      ["seed", card.seed === null ? null : String(card.seed)],
      ["size", sizeText(card.images[0] || card.before[0])],
      ["cost", costText(card)],
      ["built", card.builtAt],
      ["manifest", data.sections.length > 1 ? data.sections[card.section] : null]
    ].forEach(function (fact) {
      if (fact[1]) {
        list.append(element("dt", {}, [fact[0]]), element("dd", {}, [fact[1]]));
      }
    });
    return list;
  }

  function files(card) {
    var items = [];
    if (card.images.length > 1) {
      items.push("outputs ");
      card.images.forEach(function (image, index) {
        items.push(image.href
          ? element("a", { href: image.href, target: "_blank", title: image.path }, [String(index + 1)])
          : element("span", { title: image.path }, [String(index + 1) + " (not built)"]));
      });
    }
    card.before.forEach(function (image, index) {
      if (image && image.href) {
        items.push(element("a", { href: image.href, target: "_blank" }, ["before #" + (index + 1)]));
      }
    });
    return items.length ? element("p", { class: "files" }, items) : null;
  }

  function cardElement(card) {
    var changed = card.before.some(function (image, index) {
      return image && card.images[index];
    });
    var node = element("article", {
      class: "card",
      id: cardId(card.key),
      "data-status": card.status,
      "data-change": card.change
    });
    if (changed) {
      card.before.forEach(function (image, index) {
        if (image && card.images[index]) {
          node.append(comparison(card, index));
        }
      });
    } else {
      node.append(media(card));
    }
    var badges = element("div", { class: "badges" }, [
      element("span", { class: "badge status-" + card.status }, [STATUS_LABELS[card.status] || card.status])
    ]);
    if (card.change) {
      badges.append(element("span", { class: "badge change-" + card.change }, [card.change]));
    }
    var prompt = card.prompt ? element("p", { class: "prompt", title: "click to expand" }, [card.prompt]) : null;
    if (prompt) {
      prompt.addEventListener("click", function () {
        prompt.classList.toggle("open");
      });
    }
    var reasons = card.reasons.length
      ? element("ul", { class: "reasons" }, card.reasons.map(function (reason) {
        return element("li", {}, [reason]);
      }))
      : null;
    var lineage = links("from", card.upstream).concat(
      card.upstream.length && card.derived.length ? [" · "] : [],
      links("used by", card.derived)
    );
    append(node, [
      element("h2", {}, [element("a", { href: "#" + cardId(card.key), "data-key": card.key }, [card.name])]),
      badges,
      card.tags.length ? element("div", { class: "badges" }, card.tags.map(function (tag) {
        return element("span", { class: "tag" }, [tag]);
      })) : null,
      facts(card),
      prompt,
      reasons,
      lineage.length ? element("p", { class: "lineage" }, lineage) : null,
      files(card)
    ]);
    return node;
  }

  function reveal(key) {
    var index = byKey.get(key);
    if (index === undefined) {
      return;
    }
    var position = shown.indexOf(index);
    if (position < 0) {
      Object.keys(filters).forEach(function (name) {
        filters[name].value = "";
      });
      apply();
      position = shown.indexOf(index);
    }
    if (position < first || position >= last + 4 * CHUNK) {
      renderFrom(position);
    } else if (position >= last) {
      renderLater(position);
    }
    var node = document.getElementById(cardId(key));
    node.scrollIntoView({ block: "start" });
    grid.querySelectorAll(".highlight").forEach(function (other) {
      other.classList.remove("highlight");
    });
    node.classList.add("highlight");
  }

  function keyOfHash() {
    var hash = decodeURIComponent(location.hash.slice(1));
    return hash.indexOf("t-") === 0 ? hash.slice(2) : null;
  }

  function fill(select, values, label) {
    values.forEach(function (value) {
      select.append(element("option", { value: value }, [label ? label(value) : value]));
    });
  }

  function distinct(pick) {
    var seen = new Set();
    cards.forEach(function (card) {
      [].concat(pick(card)).forEach(function (value) {
        if (value) {
          seen.add(value);
        }
      });
    });
    return Array.from(seen).sort();
  }

  function summary() {
    var counts = {};
    cards.forEach(function (card) {
      [card.status, card.change].forEach(function (value) {
        if (value) {
          counts[value] = (counts[value] || 0) + 1;
        }
      });
    });
    var parts = [cards.length + " targets"];
    Object.keys(STATUS_LABELS).concat(["changed", "new", "unchanged"]).forEach(function (name) {
      if (counts[name] && name !== "removed") {
        parts.push(counts[name] + " " + (STATUS_LABELS[name] || name));
      }
    });
    if (counts.removed) {
      parts.push(counts.removed + " removed");
    }
    var compared = data.baselines.filter(function (label) {
      return label;
    });
    parts.push(compared.length ? "compared with " + compared.join(", ") : "not compared");
    return parts.join(" · ");
  }

  fill(filters.tag, distinct(function (card) { return card.tags; }));
  fill(filters.provider, distinct(function (card) { return card.provider; }));
  fill(filters.status, distinct(function (card) { return card.status; }), function (status) {
    return STATUS_LABELS[status] || status;
  });
  var changes = distinct(function (card) { return card.change; });
  fill(filters.change, changes);
  document.getElementById("change-filter").hidden = !changes.length;
  document.getElementById("summary").textContent = summary();

  var typing = null;
  filters.search.addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(apply, 120);
  });
  ["tag", "provider", "status", "change"].forEach(function (name) {
    filters[name].addEventListener("change", apply);
  });
  grid.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-key]");
    if (link) {
      event.preventDefault();
      history.replaceState(null, "", "#" + cardId(link.getAttribute("data-key")));
      reveal(link.getAttribute("data-key"));
    }
  });
  window.addEventListener("hashchange", function () {
    reveal(keyOfHash());
  });

  apply();
  if (keyOfHash() !== null) {
    reveal(keyOfHash());
  }
})();
