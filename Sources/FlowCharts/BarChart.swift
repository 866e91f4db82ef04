/// A ranking as horizontal bars, one per row, each split into segments (sent and
/// received, a→b and b→a), labelled on the left, with the total on the right.
///
/// For example:
/// ```swift
/// let chart = BarChart(unit: .bytes, segments: ["sent", "received"],
///                      bars: [.init(label: "db-1", values: [900, 100], link: "/endpoint/n1")])
/// let svg = chart.svg(width: 600)
/// ```
package struct BarChart: Sendable {
    package struct Bar: Sendable {
        package var label: String
        package var values: [Int64]
        /// Where the label and bar lead (a page of the same question), or nil.
        package var link: String?
        /// Extra hover lines (e.g. the endpoint's ID).
        package var detail: String?

        package init(label: String, values: [Int64], link: String? = nil, detail: String? = nil) {
            self.label = label
            self.values = values
            self.link = link
            self.detail = detail
        }

        package var total: Int64 {
            values.reduce(Int64(0)) { s, v in s.addingReportingOverflow(v).overflow ? Int64.max : s + v }
        }
    }

    package var unit: ValueUnit
    /// The segments' names, in drawing order (left to right) and legend order.
    package var segments: [String]
    package var bars: [Bar]
    package var caption: String?
    package var rowHeight = 20.0

    package init(unit: ValueUnit, segments: [String], bars: [Bar], caption: String? = nil) {
        self.unit = unit
        self.segments = segments
        self.bars = bars
        self.caption = caption
    }

    /// Layout with no markup: where labels end, where bars start, the scale and each row's y.
    package struct Geometry: Sendable {
        package var labelWidth: Double
        package var x: LinearScale
        package var rowY: [Double]
        package var height: Double
        package var ticks: [(value: Double, label: String)]
    }

    package func geometry(width: Double) -> Geometry {
        let longest = bars.map { Chart.clip($0.label, 32).count }.max() ?? 4
        let labelWidth = min(Double(longest) * 7 + 12, width * 0.4)
        let maxTotal = bars.map(\.total).max() ?? 0
        let ticks = unit.axis(max: max(maxTotal, 1), count: 4)
        let valueWidth = 80.0
        let top = caption == nil ? 6.0 : 24.0
        let x = LinearScale(domain: 0...(ticks.last?.value ?? 1), range: labelWidth...(width - valueWidth))
        let rowY = bars.indices.map { top + Double($0) * rowHeight }
        let legend = segments.count > 1 ? 22.0 : 0
        return Geometry(labelWidth: labelWidth, x: x, rowY: rowY, height: top + Double(bars.count) * rowHeight + 22 + legend, ticks: ticks)
    }

    package func svg(width: Double = 600) -> String {
        let g = geometry(width: width)
        var svg = SVG(width: width, height: g.height, attributes: [("class", "chart bars"), ("role", "img")])
        if let caption { svg.text(caption, [("x", "0"), ("y", "14"), ("fill", "#333")]) }
        let axisY = (g.rowY.last ?? 6) + rowHeight + 2
        svg.open("g", [("class", "axis"), ("fill", "#333")])
        for tick in g.ticks {
            let x = g.x(tick.value)
            svg.element("line", [("x1", SVG.number(x)), ("x2", SVG.number(x)), ("y1", SVG.number(g.rowY.first ?? 6)),
                                 ("y2", SVG.number(axisY)), ("stroke", "#e3e3e3")])
            svg.text(tick.label, [("x", SVG.number(x)), ("y", SVG.number(axisY + 13)), ("text-anchor", "middle"), ("font-size", "11")])
        }
        svg.close("g")
        let colors = segments.indices.map { Palette.color($0 == 0 ? 0 : ($0 == 1 ? 2 : $0 + 2)) }
        if bars.isEmpty {
            svg.text("nothing in this window", [("x", SVG.number(width / 2)), ("y", "20"), ("text-anchor", "middle"), ("fill", "#555")])
        }
        for (i, bar) in bars.enumerated() {
            let y = g.rowY[i]
            if let link = bar.link { svg.open("a", [("href", link)]) }
            svg.open("g", [("class", "bar")])
            var lines = [bar.label]
            if let detail = bar.detail { lines.append(detail) }
            for (s, name) in segments.enumerated() where s < bar.values.count {
                lines.append(name.isEmpty ? unit.exact(bar.values[s]) : name + ": " + unit.exact(bar.values[s]))
            }
            if segments.count > 1 { lines.append("total: " + unit.exact(bar.total)) }
            svg.title(lines.joined(separator: "\n"))
            svg.text(Chart.clip(bar.label, 32), [("x", SVG.number(g.labelWidth - 6)), ("y", SVG.number(y + rowHeight * 0.68)), ("text-anchor", "end")])
            var base: Int64 = 0
            for (s, v) in bar.values.enumerated() where v > 0 {
                let x0 = g.x(Double(base)), x1 = g.x(Double(base) + Double(v))
                base = base.addingReportingOverflow(v).overflow ? Int64.max : base + v
                svg.element("rect", [("x", SVG.number(x0)), ("y", SVG.number(y + 3)), ("width", SVG.number(max(x1 - x0, 0.5))),
                                     ("height", SVG.number(rowHeight - 6)), ("fill", colors[s % colors.count])])
            }
            svg.text(unit.human(bar.total), [("x", SVG.number(g.x(Double(bar.total)) + 4)), ("y", SVG.number(y + rowHeight * 0.68)),
                                              ("font-size", "11"), ("fill", "#333")])
            svg.close("g")
            if bar.link != nil { svg.close("a") }
        }
        if segments.count > 1 {
            var x = g.labelWidth
            let y = g.height - 6
            for (s, name) in segments.enumerated() {
                svg.element("rect", [("x", SVG.number(x)), ("y", SVG.number(y - 10)), ("width", "12"), ("height", "12"),
                                     ("fill", colors[s % colors.count]), ("stroke", "#333"), ("stroke-width", "0.5")])
                svg.text(name, [("x", SVG.number(x + 16)), ("y", SVG.number(y))])
                x += 16 + Double(name.count) * 7 + 18
            }
        }
        return svg.finish()
    }
}
