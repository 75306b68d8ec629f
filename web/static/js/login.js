// Registration on the sign-in page: create a viewer account, sign in, go on.
import { register, showError } from "./core.js";

const form = document.getElementById("register-form");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(form);
  try {
    await register(f.get("username"), f.get("password"), f.get("display_name"));
    location.assign(form.dataset.next || "/");
  } catch (error) {
    showError(form.querySelector(".error"), error);
  }
});
