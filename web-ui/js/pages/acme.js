import { el } from "../util.js";
export default {
  title: "ACME",
  async mount(main) {
    main.append(el("h1", {}, "ACME"));
    return { refresh() {} };
  },
};
