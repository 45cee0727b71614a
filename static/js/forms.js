// Field errors next to their fields: each control `#id` has a `<p class="field-error" id="id-error">`;
// the control gets aria-invalid and is described by its error while it has one.
export function setFieldError(control, text) {
  const error = document.getElementById(`${control.id}-error`);
  const described = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== error.id);
  error.textContent = text || "";
  error.hidden = !text;
  if (text) {
    described.push(error.id);
    if (control.tagName !== "FIELDSET") control.setAttribute("aria-invalid", "true");
  } else {
    control.removeAttribute("aria-invalid");
  }
  if (described.length) control.setAttribute("aria-describedby", described.join(" "));
  else control.removeAttribute("aria-describedby");
}

export function clearFieldErrors(form) {
  for (const error of form.querySelectorAll(".field-error:not([hidden])")) {
    const control = document.getElementById(error.id.replace(/-error$/, ""));
    if (control) setFieldError(control, "");
  }
}

/**
 * Route the API's `fields` ({name: [messages]}) to controls. The API flattens a nested object's
 * errors into its parent as "child: message"; `targets[name]` is a control id, or for a nested
 * object `{child: id, "": id-for-the-rest}`. Returns the messages no control took.
 */
export function showFieldErrors(fields, targets) {
  const shown = new Map(); // control id → its messages
  const rest = [];
  for (const [name, messages] of Object.entries(fields || {})) {
    for (const message of [].concat(messages)) {
      const [id, text] = controlFor(targets[name], message);
      if (id && document.getElementById(id)) shown.set(id, [...(shown.get(id) || []), text]);
      else rest.push(`${name}: ${message}`);
    }
  }
  for (const [id, texts] of shown) setFieldError(document.getElementById(id), texts.join(" "));
  const first = shown.size ? document.getElementById([...shown.keys()][0]) : null;
  return { rest, first };
}

function controlFor(target, message) {
  if (!target || typeof target === "string") return [target, message];
  const match = /^(\w+): (.*)$/s.exec(message);
  if (match && match[1] in target) return [target[match[1]], match[2]];
  return [target[""], message];
}
