/** Sign up or sign in: one form, two buttons. */
import { api } from "./api.ts";
import { describe, h } from "./dom.ts";

export function signInView(): HTMLElement {
  const email = h("input", { name: "email", type: "email", placeholder: "E-mail", required: true });
  const username = h("input", { name: "username", placeholder: "Username (to sign up)" });
  const password = h("input", {
    name: "password",
    type: "password",
    placeholder: "Password (8 characters or more)",
    required: true,
  });
  const error = h("p", { class: "error", role: "alert" });

  async function run(action: () => Promise<unknown>): Promise<void> {
    error.textContent = "";
    try {
      await action(); // main.ts re-renders on the session change
    } catch (e) {
      error.textContent = describe(e);
    }
  }

  const form = h(
    "form",
    { class: "card sign-in" },
    h("h1", {}, "MKing Friend"),
    email,
    username,
    password,
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit" }, "Sign in"),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () =>
            void run(() =>
              api.signUp({
                email: email.value,
                username: username.value,
                password: password.value,
                displayName: username.value,
              }),
            ),
        },
        "Sign up",
      ),
    ),
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void run(() => api.signIn(email.value, password.value));
  });
  return form;
}
