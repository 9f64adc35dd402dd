import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import { App } from "./app";

const root = document.getElementById("app")!;
// The "Loading…" placeholder goes: render() adds to a container, it does not
// take over what the HTML put there.
root.replaceChildren();
render(<App />, root);
