// Bootstrap Italia's stylesheet cut to the rules the pages can use (scripts/install-frontend.sh).
// A rule stays when its classes, ids, elements and attributes all appear as words in the
// templates, the Python sources (forms' widget classes, badges, messages' tags) or the
// project's own scripts. Its custom properties, fonts and animations stay whole.
module.exports = {
  content: [
    "src/autolettura/**/templates/**/*.html",
    "src/autolettura/**/*.py",
    "src/autolettura/*/static/*/*.js",
  ],
  css: ["build/frontend/node_modules/bootstrap-italia/dist/css/bootstrap-italia.min.css"],
  safelist: {
    // Classes made at render time from a value: alert-{{ message.tags }} (info, success,
    // warning, error shown as danger) and the states Bootstrap's markup toggles.
    standard: [/^alert-/, "show", "fade", "collapsing", "active", "disabled", /^htmx-/],
  },
  variables: false,
  fontFace: false,
  keyframes: false,
};
