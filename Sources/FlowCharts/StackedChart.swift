package import FlowModel

/// Values over time in stacked layers (traffic by kind, by protocol, …), drawn as
/// stacked columns, one per bucket, with a hover text per bucket listing every layer.
///
/// For example:
/// ```swift
/// let chart = StackedChart(times: buckets, step: 3_600_000_000_000, unit: .bytes,
///                          layers: [.init(name: "virtual", values: v), .init(name: "subnet", values: s)])
/// let svg = chart.svg(width: 900, height: 260)
/// ```
package struct StackedChart: Sendable {
    package struct Layer: Sendable {
        package var name: String
        package var values: [Int64]
        package var color: String?

        package init(name: String, values: [Int64], color: String? = nil) {
            self.name = name
            self.values = values
            self.color = color
        }
    }

    /// Bucket starts (ns), one per column, `step` apart.
    package var times: [Nanoseconds]
    package var step: Nanoseconds
    package var unit: ValueUnit
    package var layers: [Layer]
    /// A caption above the plot (e.g. "bytes per 15m, UTC").
    package var caption: String?
    /// Moments marked across the plot, each with a hover text: configuration changes (SPEC §13).
    package var markers: [Marker] = []

    /// A vertical line at `time` whose hover text is `label` (who did what).
    package struct Marker: Sendable, Equatable {
        package var time: Nanoseconds
        package var label: String

        package init(time: Nanoseconds, label: String) {
            self.time = time
            self.label = label
        }
    }

    package init(times: [Nanoseconds], step: Nanoseconds, unit: ValueUnit, layers: [Layer], caption: String? = nil) {
        self.times = times
        self.step = step
        self.unit = unit
        self.layers = layers
        self.caption = caption
    }

    /// The geometry of a chart: the plot area and its scales, with no markup.
    package struct Geometry: Sendable {
        package var plot: (x: Double, y: Double, width: Double, height: Double)
        package var x: LinearScale
        package var y: LinearScale
        package var yTicks: [(value: Double, label: String)]
        package var xTicks: [TimeTicks.Tick]
        /// The largest stacked total.
        package var maxTotal: Int64
        /// Each column's left edge and width.
        package func column(_ i: Int, times: [Nanoseconds], step: Nanoseconds) -> (x: Double, width: Double) {
            let x0 = x(Double(times[i])), x1 = x(Double(times[i] + step))
            let gap = (x1 - x0) > 4 ? 1.0 : 0
            return (x0, max(x1 - x0 - gap, 0.5))
        }
    }

    /// Per-bucket totals (layers summed, saturating).
    package var totals: [Int64] {
        times.indices.map { i in
            layers.reduce(Int64(0)) { sum, layer in
                let v = i < layer.values.count ? layer.values[i] : 0
                let (s, o) = sum.addingReportingOverflow(v)
                return o ? Int64.max : s
            }
        }
    }

    package func geometry(width: Double, height: Double) -> Geometry {
        let maxTotal = totals.max() ?? 0
        let yTicks = unit.axis(max: max(maxTotal, 1), count: 4)
        let labelWidth = Double(yTicks.map(\.label.count).max() ?? 4) * 7 + 10
        let top = caption == nil ? 12.0 : 28.0
        let legend = 22.0
        let plot = (x: labelWidth, y: top, width: width - labelWidth - 12, height: height - top - 26 - legend)
        let end = (times.last ?? 0) + step
        let start = times.first ?? 0
        let x = LinearScale(domain: Double(start)...Double(max(end, start + 1)), range: plot.x...(plot.x + plot.width))
        let y = LinearScale(domain: 0...(yTicks.last?.value ?? 1), range: plot.y...(plot.y + plot.height), inverted: true)
        let xTicks = TimeTicks.ticks(from: start, to: end, count: max(2, Int(plot.width / 110)))
        return Geometry(plot: plot, x: x, y: y, yTicks: yTicks, xTicks: xTicks, maxTotal: maxTotal)
    }

    package func svg(width: Double = 900, height: Double = 260) -> String {
        let g = geometry(width: width, height: height)
        let start = times.first ?? 0, end = (times.last ?? 0) + step
        var svg = SVG(width: width, height: height, attributes: [
            ("class", "chart stacked"), ("role", "img"),
            ("data-from", Timestamp.formatRFC3339(start)), ("data-to", Timestamp.formatRFC3339(end)),
            ("data-plot-x", SVG.number(g.plot.x)), ("data-plot-width", SVG.number(g.plot.width)),
        ])
        if let caption {
            svg.text(caption, [("x", SVG.number(g.plot.x)), ("y", "14"), ("fill", "#333")])
        }
        axes(&svg, g)
        let colors = layers.enumerated().map { i, l in l.color ?? Palette.color(i) }
        svg.open("g", [("class", "columns")])
        let totals = self.totals
        for i in times.indices where totals[i] > 0 {
            let (cx, cw) = g.column(i, times: times, step: step)
            var lines = [TimeTicks.describe(times[i]) + " (+" + DurationText.format(step) + ")"]
            for layer in layers.reversed() where i < layer.values.count && layer.values[i] > 0 {
                lines.append(layer.name + ": " + unit.exact(layer.values[i]))
            }
            if layers.count > 1 { lines.append("total: " + unit.exact(totals[i])) }
            svg.open("g", [("data-time", Timestamp.formatRFC3339(times[i]))])
            svg.title(lines.joined(separator: "\n"))
            var base: Int64 = 0
            for (l, layer) in layers.enumerated() {
                let v = i < layer.values.count ? layer.values[i] : 0
                guard v > 0 else { continue }
                let y0 = g.y(Double(base)), y1 = g.y(Double(base) + Double(v))
                base = base.addingReportingOverflow(v).overflow ? Int64.max : base + v
                svg.element("rect", [("x", SVG.number(cx)), ("y", SVG.number(y1)), ("width", SVG.number(cw)),
                                     ("height", SVG.number(max(y0 - y1, 0.5))), ("fill", colors[l])])
            }
            svg.close("g")
        }
        svg.close("g")
        if totals.allSatisfy({ $0 == 0 }) {
            svg.text("no traffic in this window", [("x", SVG.number(g.plot.x + g.plot.width / 2)), ("y", SVG.number(g.plot.y + g.plot.height / 2)),
                                                   ("text-anchor", "middle"), ("fill", "#555")])
        }
        marks(&svg, g, from: start, to: end)
        legend(&svg, g, colors: colors, y: height - 8)
        return svg.finish()
    }

    /// The markers inside the window: a dashed line over the plot under a small flag, with a hover
    /// strip wide enough to point at, and the label as the group's title (a tooltip without scripts).
    func marks(_ svg: inout SVG, _ g: Geometry, from start: Nanoseconds, to end: Nanoseconds) {
        let shown = markers.filter { $0.time >= start && $0.time < end }
        guard !shown.isEmpty else { return }
        svg.open("g", [("class", "markers")])
        let top = g.plot.y, bottom = g.plot.y + g.plot.height
        for m in shown {
            let x = g.x(Double(m.time))
            svg.open("g", [("class", "marker"), ("data-time", Timestamp.formatRFC3339(m.time))])
            svg.title(m.label)
            svg.element("rect", [("x", SVG.number(x - 4)), ("y", SVG.number(top - 6)), ("width", "8"),
                                 ("height", SVG.number(bottom - top + 6)), ("fill", "#fff"), ("fill-opacity", "0"), ("pointer-events", "all")])
            svg.element("line", [("x1", SVG.number(x)), ("x2", SVG.number(x)), ("y1", SVG.number(top)), ("y2", SVG.number(bottom)),
                                 ("stroke", "#b03a2e"), ("stroke-width", "1.5"), ("stroke-dasharray", "4 3")])
            svg.element("path", [("d", "M\(SVG.number(x - 5)) \(SVG.number(top - 6))h10l-5 6z"), ("fill", "#b03a2e")])
            svg.close("g")
        }
        svg.close("g")
    }

    func axes(_ svg: inout SVG, _ g: Geometry) {
        svg.open("g", [("class", "axis"), ("fill", "#333")])
        for tick in g.yTicks {
            let y = g.y(tick.value)
            svg.element("line", [("x1", SVG.number(g.plot.x)), ("x2", SVG.number(g.plot.x + g.plot.width)),
                                 ("y1", SVG.number(y)), ("y2", SVG.number(y)), ("stroke", "#e3e3e3")])
            svg.text(tick.label, [("x", SVG.number(g.plot.x - 6)), ("y", SVG.number(y + 4)), ("text-anchor", "end")])
        }
        let bottom = g.plot.y + g.plot.height
        svg.element("line", [("x1", SVG.number(g.plot.x)), ("x2", SVG.number(g.plot.x + g.plot.width)),
                             ("y1", SVG.number(bottom)), ("y2", SVG.number(bottom)), ("stroke", "#888")])
        for tick in g.xTicks {
            let x = g.x(Double(tick.time))
            svg.element("line", [("x1", SVG.number(x)), ("x2", SVG.number(x)), ("y1", SVG.number(bottom)),
                                 ("y2", SVG.number(bottom + 4)), ("stroke", "#888")])
            // Labels that would run past the plot's ends are aligned to them instead of centred.
            let half = Double(tick.label.count) * 3.5
            let anchor = x + half > g.plot.x + g.plot.width + 8 ? "end" : (x - half < 0 ? "start" : "middle")
            svg.text(tick.label, [("x", SVG.number(x)), ("y", SVG.number(bottom + 16)), ("text-anchor", anchor)])
        }
        svg.close("g")
    }

    func legend(_ svg: inout SVG, _ g: Geometry, colors: [String], y: Double) {
        guard layers.count > 1 || layers.first.map({ !$0.name.isEmpty }) == true else { return }
        svg.open("g", [("class", "legend")])
        var x = g.plot.x
        for (i, layer) in layers.enumerated() {
            svg.element("rect", [("x", SVG.number(x)), ("y", SVG.number(y - 10)), ("width", "12"), ("height", "12"),
                                 ("fill", colors[i]), ("stroke", "#333"), ("stroke-width", "0.5")])
            let label = Chart.clip(layer.name, 28)
            svg.text(label, [("x", SVG.number(x + 16)), ("y", SVG.number(y))])
            x += 16 + Double(label.count) * 7 + 18
        }
        svg.close("g")
    }
}

/// Helpers shared by the charts.
package enum Chart {
    /// `text` cut to `max` characters with an ellipsis.
    package static func clip(_ text: String, _ max: Int) -> String {
        text.count <= max ? text : String(text.prefix(max - 1)) + "…"
    }
}
