import FlowCharts
import FlowModel
import Testing

struct GeometryTests {
    @Test func niceStepsAreOneTwoOrFiveTimesAPowerOfTen() {
        #expect(NiceTicks.step(max: 870, count: 4) == 500)
        #expect(NiceTicks.step(max: 870, count: 5) == 200)
        #expect(NiceTicks.step(max: 3.4, count: 4) == 1)
        #expect(NiceTicks.step(max: 0.3, count: 3) == 0.1)
        #expect(NiceTicks.ticks(max: 870, count: 5) == [0, 200, 400, 600, 800, 1000])
        #expect(NiceTicks.ticks(max: 1000, count: 5) == [0, 200, 400, 600, 800, 1000])
    }

    @Test func byteAxesUseIECUnitsWithRoundSteps() {
        let axis = ValueUnit.bytes.axis(max: 3_650_722_201, count: 4)  // 3.4 GiB
        #expect(axis.map(\.label) == ["0", "1 GiB", "2 GiB", "3 GiB", "4 GiB"])
        #expect(axis.map(\.value) == [0, 1, 2, 3, 4].map { Double($0) * 1_073_741_824 })
        #expect(ValueUnit.bytes.axis(max: 800, count: 4).map(\.label) == ["0", "200 B", "400 B", "600 B", "800 B"])
        #expect(ValueUnit.bytes.axis(max: 1536, count: 3).map(\.label) == ["0", "0.5 KiB", "1 KiB", "1.5 KiB"])
    }

    @Test func packetAxesUseSISuffixes() {
        #expect(ValueUnit.packets.axis(max: 1500, count: 4).map(\.label) == ["0", "0.5k", "1k", "1.5k"])
        #expect(ValueUnit.packets.axis(max: 2_300_000, count: 4).map(\.label) == ["0", "1M", "2M", "3M"])
        #expect(ValueUnit.packets.axis(max: 7, count: 4).map(\.label) == ["0", "2", "4", "6", "8"])
    }

    @Test func exactValuesForHoverTexts() {
        #expect(ValueUnit.bytes.exact(1_234_567) == "1.2 MiB (1,234,567 bytes)")
        #expect(ValueUnit.bytes.exact(512) == "512 bytes")
        #expect(ValueUnit.packets.exact(3456) == "3,456 packets")
    }

    static let t0 = Timestamp.parseRFC3339("2026-11-01T06:00:00Z")!
    static let hour: Int64 = 3_600_000_000_000

    @Test func timeTicksFallOnRoundUTCInstants() {
        let ticks = TimeTicks.ticks(from: Self.t0, to: Self.t0 + 6 * Self.hour, count: 6)
        #expect(ticks.count == 7)
        #expect(ticks.map(\.label) == ["11-01 06:00", "07:00", "08:00", "09:00", "10:00", "11:00", "12:00"])
        // Crossing midnight shows the date where the day starts.
        let night = TimeTicks.ticks(from: Self.t0 + 15 * Self.hour, to: Self.t0 + 21 * Self.hour, count: 3)
        #expect(night.map(\.label) == ["11-01 22:00", "11-02 00:00", "02:00"])
        // A start off the grid begins at the next round instant.
        let odd = TimeTicks.ticks(from: Self.t0 + 7 * 60_000_000_000, to: Self.t0 + Self.hour, count: 4)
        #expect(odd.first?.label == "11-01 06:15")
        #expect(TimeTicks.interval(from: 0, to: 7 * 24 * Self.hour, count: 7) == 24 * Self.hour)
        let week = TimeTicks.ticks(from: Self.t0 - 6 * Self.hour, to: Self.t0 + 7 * 24 * Self.hour, count: 8)
        #expect(week.first?.label == "11-01")
        #expect(TimeTicks.describe(Self.t0 + 15 * 60_000_000_000) == "2026-11-01 06:15 UTC")
    }

    @Test func scalesMapDomainToRange() {
        let y = LinearScale(domain: 0...1000, range: 20...300, inverted: true)
        #expect(y(0) == 300)
        #expect(y(1000) == 20)
        #expect(y(500) == 160)
        let x = LinearScale(domain: 10...20, range: 0...100)
        #expect(x(15) == 50)
    }

    @Test func stackedColumnsSumTheirLayersOnOneScale() {
        let times = (0..<4).map { Self.t0 + Int64($0) * Self.hour }
        let chart = StackedChart(times: times, step: Self.hour, unit: .bytes, layers: [
            .init(name: "virtual", values: [100, 0, 300, 50]),
            .init(name: "subnet", values: [100, 0, 500, 0]),
        ])
        #expect(chart.totals == [200, 0, 800, 50])
        let g = chart.geometry(width: 800, height: 200)
        #expect(g.maxTotal == 800)
        #expect(g.y.domain.upperBound == 800)  // 0, 200, 400, 600, 800 B
        #expect(g.y(800) == g.plot.y)
        #expect(g.y(0) == g.plot.y + g.plot.height)
        // Four equal columns across the plot, each one step wide.
        let c0 = g.column(0, times: times, step: Self.hour), c3 = g.column(3, times: times, step: Self.hour)
        #expect(abs(c0.x - g.plot.x) < 1e-9)
        #expect(abs((c3.x + c3.width + 1) - (g.plot.x + g.plot.width)) < 1e-9)
    }

    @Test func barsShareOneScaleFromZero() {
        let chart = BarChart(unit: .bytes, segments: ["sent", "received"], bars: [
            .init(label: "db-1", values: [600, 200]), .init(label: "web-1", values: [100, 100]),
        ])
        let g = chart.geometry(width: 600)
        #expect(g.x(0) == g.labelWidth)
        #expect(g.ticks.last?.value == 800)
        #expect(g.rowY[1] - g.rowY[0] == chart.rowHeight)
        #expect(chart.bars[0].total == 800)
    }

    @Test func kindColoursDifferInLightness() {
        let l = ["virtual", "exit", "subnet", "physical"].map { Palette.luminance(Palette.kind($0)) }
        for i in 1..<l.count { #expect(l[i] - l[i - 1] >= 0.1, "kind \(i) is too close in greyscale to the one before") }
        // The first categorical colours alternate dark and light.
        let c = Palette.categories.prefix(3).map(Palette.luminance)
        #expect(abs(c[0] - c[1]) >= 0.1 && abs(c[1] - c[2]) >= 0.1 && abs(c[0] - c[2]) >= 0.1)
    }
}
