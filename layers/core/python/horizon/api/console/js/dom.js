// Small DOM helpers. Data from the API only ever becomes text (textContent), never markup.

export const byId = (id) => document.getElementById(id);

/** h("td", {class: "mono"}, "text", childNode) → an element; strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

export function setBar(fill, percent, status) {
  const value = Math.max(0, Math.min(100, Number(percent) || 0));
  fill.style.width = `${value}%`;
  fill.className = `bar-fill ${status || ""}`;
  fill.parentElement.setAttribute("role", "progressbar");
  fill.parentElement.setAttribute("aria-valuenow", String(value));
  fill.parentElement.title = `${value} %`;
}

/** A stable-enough id for a request (crypto.randomUUID needs a secure context). */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}
