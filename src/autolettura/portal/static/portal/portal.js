// Move the focus to the error summary, so that screen readers announce it and keyboard
// users start from the list of what to fix (its links lead to each field).
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
});
