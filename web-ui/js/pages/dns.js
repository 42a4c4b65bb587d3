import { el } from "../util.js";
export default {
  title: "DNS",
  async mount(main) {
    main.append(el("h1", {}, "DNS"));
    return { refresh() {} };
  },
};
