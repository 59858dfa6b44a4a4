// The signed request goes to the identity provider by itself: the form is submitted as soon
// as the page is read (its button stays for browsers without scripts).
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("saml-request");
  if (form) {
    form.submit();
  }
});
