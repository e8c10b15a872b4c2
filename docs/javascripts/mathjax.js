// MathJax 3, served by the site from assets/mathjax/ (docs/_hooks/mathjax.py), never a CDN.
// Markdown pages and docstrings: pymdownx.arithmatex (generic mode) writes \( \) and \[ \]
// into elements of class "arithmatex". Lesson pages: the notebooks' Markdown cells (class
// "jp-MarkdownOutput") keep $ $ and $$ $$. Only those elements are typeset, so a dollar sign
// or a backslash anywhere else (code, printed outputs, prose) is left as it is.
const mathElements = [".arithmatex", ".jp-MarkdownOutput"];

window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  startup: {
    elements: mathElements,
  },
};

// MathJax typesets the page it is loaded on by itself (typesetting it twice would typeset its
// own output). When mkdocs-material swaps in a new page without reloading (instant
// navigation), document$ emits again: typeset that page, once MathJax has started.
let firstPage = true;
document$.subscribe(() => {
  if (firstPage || typeof MathJax.typesetPromise !== "function") {
    firstPage = false;
    return;
  }
  MathJax.startup.promise = MathJax.startup.promise.then(() => {
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    return MathJax.typesetPromise(mathElements);
  });
});
