// A preview of the picture chosen in a file input, before it is uploaded
// (catalog.forms.PictureInput). Without JS the input uploads all the same.
(function () {
  "use strict";
  document.querySelectorAll("[data-picture-input]").forEach(function (box) {
    var input = box.querySelector("input[type=file]");
    var preview = box.querySelector("[data-picture-preview]");
    if (!input || !preview || !window.FileReader) { return; }
    var image = preview.querySelector("img");
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file || !/^image\//.test(file.type)) {
        preview.hidden = true;
        image.removeAttribute("src");
        return;
      }
      var reader = new FileReader();
      // A data: URL, which the Content-Security-Policy allows for images.
      reader.addEventListener("load", function () {
        image.src = reader.result;
        preview.hidden = false;
      });
      reader.readAsDataURL(file);
    });
  });
})();
