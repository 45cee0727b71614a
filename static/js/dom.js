// Small DOM and wording helpers shared by the pages.
export function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export const capitalise = (word) => word.charAt(0).toUpperCase() + word.slice(1);
