// The labeling page of `kedro scanflow label`. No framework, no build step.
// Keys: a class (0-9) answers, s skips, u (or Backspace) undoes the last answer, g toggles
// the grid. In a Human Finder task, 1..k picks the k-th proposed clean sample, n means
// "none of these".
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("scanflow-token") || "";
sessionStorage.setItem("scanflow-token", token);
if (params.has("token")) history.replaceState(null, "", location.pathname + location.hash);

const state = { task: null, index: 0, history: [], grid: false };
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: { "X-Scanflow-Token": token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || response.statusText);
  return payload;
}

function say(message, error = false) {
  $("status").textContent = message;
  $("status").className = error ? "error" : "";
}

function imageUrl(itemId) {
  return `/api/tasks/${encodeURIComponent(state.task.name)}/items/${encodeURIComponent(itemId)}.png?token=${encodeURIComponent(token)}`;
}

function proposalUrl(itemId, rank) {
  return `/api/tasks/${encodeURIComponent(state.task.name)}/items/${encodeURIComponent(itemId)}/proposals/${rank}.png?token=${encodeURIComponent(token)}`;
}

function pending() {
  return state.task.items.filter((item) => item.status === "pending");
}

function current() {
  const items = pending();
  return items.length ? items[Math.min(state.index, items.length - 1)] : null;
}

async function loadTasks() {
  const { tasks } = await api("/api/tasks");
  const select = $("task");
  select.innerHTML = "";
  for (const task of tasks) {
    const option = document.createElement("option");
    option.value = task.name;
    option.textContent = `${task.name} (${task.kind}, ${task.answered}/${task.total})`;
    select.appendChild(option);
  }
  const wanted = decodeURIComponent(location.hash.replace("#task=", ""));
  const first = tasks.find((t) => t.name === wanted) || tasks.find((t) => t.answered < t.total) || tasks[0];
  if (!first) { say("No labeling task in the store."); return; }
  select.value = first.name;
  await loadTask(first.name);
}

async function loadTask(name) {
  state.task = await api(`/api/tasks/${encodeURIComponent(name)}`);
  state.index = 0;
  render();
}

function render() {
  const task = state.task;
  const done = task.answered + task.skipped;
  $("bar").style.width = `${(100 * done) / task.total}%`;
  const option = [...$("task").options].find((o) => o.value === task.name);
  if (option) option.textContent = `${task.name} (${task.kind}, ${task.answered}/${task.total})`;
  $("count").textContent = `${task.answered} answered, ${task.skipped} skipped, ${task.total - done} to go`;
  $("single").hidden = state.grid;
  $("grid").hidden = !state.grid;
  if (state.grid) renderGrid(); else renderSingle();
}

function renderSingle() {
  const item = current();
  const choices = $("choices");
  choices.innerHTML = "";
  if (!item) {
    $("image").hidden = true;
    $("caption").innerHTML = '<span class="done">Every item of this task is answered.</span>';
    $("help").textContent = "u undoes the last answer.";
    return;
  }
  $("image").hidden = false;
  $("image").src = imageUrl(item.item_id);
  const facts = [];
  if (item.prediction !== null) facts.push(`model says ${item.prediction}`);
  if (item.score !== null) facts.push(`criticality ${Number(item.score).toFixed(4)}`);
  if (state.task.kind === "find") facts.push("which clean sample below is most like it?");
  $("caption").textContent = `sample ${item.sample_id}${facts.length ? ": " + facts.join(", ") : ""}`;
  if (state.task.kind === "find") {
    item.proposals.forEach((reference, rank) => {
      const figure = document.createElement("figure");
      const button = document.createElement("button");
      const img = document.createElement("img");
      img.src = proposalUrl(item.item_id, rank);
      img.width = img.height = 112;
      img.alt = `proposal ${rank + 1}`;
      button.appendChild(img);
      button.onclick = () => answer(reference);
      figure.appendChild(button);
      const caption = document.createElement("figcaption");
      caption.textContent = `${rank + 1}: sample ${reference}`;
      figure.appendChild(caption);
      choices.appendChild(figure);
    });
    const none = document.createElement("button");
    none.textContent = "none (n)";
    none.onclick = () => answer("none");
    choices.appendChild(none);
    $("help").textContent = "1..9 picks the most similar clean sample, n: none of these, s: skip, u: undo, g: grid.";
  } else {
    for (const label of state.task.classes) {
      const button = document.createElement("button");
      button.textContent = label;
      if (label === item.prediction) button.className = "predicted";
      button.onclick = () => answer(label);
      choices.appendChild(button);
    }
    $("help").textContent = "Type the class (0-9), s: skip, u or Backspace: undo, g: grid.";
  }
}

function renderGrid() {
  const grid = $("grid");
  grid.innerHTML = "";
  const focus = current();
  for (const item of state.task.items) {
    const figure = document.createElement("figure");
    if (item.status !== "pending") figure.classList.add("answered");
    if (focus && item.item_id === focus.item_id) figure.classList.add("current");
    const img = document.createElement("img");
    img.src = imageUrl(item.item_id);
    img.width = img.height = 84;
    figure.appendChild(img);
    const caption = document.createElement("figcaption");
    caption.textContent = item.answer === null ? `pred. ${item.prediction ?? "?"}` : `→ ${item.answer}`;
    figure.appendChild(caption);
    figure.onclick = () => {
      const index = pending().findIndex((p) => p.item_id === item.item_id);
      if (index >= 0) { state.index = index; state.grid = false; render(); }
    };
    grid.appendChild(figure);
  }
}

async function post(action, body) {
  try {
    const progress = await api(`/api/tasks/${encodeURIComponent(state.task.name)}/${action}`, body);
    Object.assign(state.task, progress);
    return true;
  } catch (error) {
    say(error.message, true);
    return false;
  }
}

async function answer(value) {
  const item = current();
  if (!item) return;
  if (await post("answer", { item_id: item.item_id, value })) {
    item.status = "answered";
    item.answer = value;
    state.history.push(item.item_id);
    say(`sample ${item.sample_id}: ${value}`);
    render();
  }
}

async function skip() {
  const item = current();
  if (!item) return;
  if (await post("skip", { item_id: item.item_id })) {
    item.status = "skipped";
    state.history.push(item.item_id);
    say(`sample ${item.sample_id} skipped`);
    render();
  }
}

async function undo() {
  const itemId = state.history.pop();
  if (itemId === undefined) { say("Nothing to undo."); return; }
  if (await post("undo", { item_id: itemId })) {
    const item = state.task.items.find((i) => i.item_id === itemId);
    item.status = "pending";
    item.answer = null;
    state.index = pending().findIndex((p) => p.item_id === itemId);
    say(`sample ${item.sample_id}: answer undone`);
    render();
  }
}

document.addEventListener("keydown", (event) => {
  if (!state.task || event.target.tagName === "SELECT") return;
  const key = event.key;
  if (key === "u" || key === "Backspace") { event.preventDefault(); undo(); }
  else if (key === "s") skip();
  else if (key === "g") { state.grid = !state.grid; render(); }
  else if (state.task.kind === "find") {
    const item = current();
    if (key === "n") answer("none");
    else if (item && /^[1-9]$/.test(key) && Number(key) <= item.proposals.length) answer(item.proposals[Number(key) - 1]);
  } else if (/^[0-9]$/.test(key)) {
    const label = state.task.classes.find((c) => String(c) === key);
    if (label !== undefined) answer(label);
  }
});

$("task").onchange = (event) => { location.hash = `task=${encodeURIComponent(event.target.value)}`; };
window.addEventListener("hashchange", () => {
  const wanted = decodeURIComponent(location.hash.replace("#task=", ""));
  if (wanted && (!state.task || wanted !== state.task.name)) {
    $("task").value = wanted;
    state.history = [];
    loadTask(wanted).catch((error) => say(error.message, true));
  }
});
$("mode").onclick = () => { state.grid = !state.grid; render(); };
loadTasks().catch((error) => say(error.message, true));
