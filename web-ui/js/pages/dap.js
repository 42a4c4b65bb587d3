import { el } from "../util.js";
export default {
  title: "DAP",
  async mount(main) {
    main.append(el("h1", {}, "DAP"));
    return { refresh() {} };
  },
};
