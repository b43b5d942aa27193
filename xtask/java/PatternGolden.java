// Golden files for pollen-template's Java date pattern engine, written by the reference
// implementation itself: java.text.SimpleDateFormat with Locale.US and a proleptic Gregorian
// calendar (GregorianCalendar.setGregorianChange(new Date(Long.MIN_VALUE))).
//
// Run from the repository root:   java xtask/java/PatternGolden.java [ROOT]
// (`cargo xtask fixtures` runs it when `java` is on the PATH.) It writes
//   fixtures/patterns/format.tsv         pattern, zone, epoch ms, instant, Java's output
//   fixtures/patterns/parse.tsv          pattern, zone, value, Java's result (ok EPOCH_MS | error INDEX)
//   fixtures/patterns/compile.tsv        pattern, Java's verdict (ok | error MESSAGE)
//   crates/pollen-template/src/zone_names.tsv   DateFormatSymbols.getZoneStrings() for Locale.US
// Parsing is non-lenient, with two-digit years starting at 1950-01-01T00:00:00Z and the JVM's
// default zone set to UTC, so the output does not depend on the machine or the current date.

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.DateFormatSymbols;
import java.text.ParsePosition;
import java.text.SimpleDateFormat;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.GregorianCalendar;
import java.util.List;
import java.util.Locale;
import java.util.TimeZone;

public class PatternGolden {
    static final String[] LETTER_PATTERNS = {
        "G", "GG", "GGG", "GGGG", "GGGGG",
        "y", "yy", "yyy", "yyyy", "yyyyy", "yyyyyy",
        "Y", "YY", "YYY", "YYYY", "YYYYY",
        "M", "MM", "MMM", "MMMM", "MMMMM",
        "L", "LL", "LLL", "LLLL", "LLLLL",
        "w", "ww", "www", "W", "WW",
        "D", "DD", "DDD", "DDDD",
        "d", "dd", "ddd",
        "F", "FF",
        "E", "EE", "EEE", "EEEE", "EEEEE",
        "u", "uu", "uuu", "uuuu",
        "a", "aa",
        "H", "HH", "HHH", "k", "kk", "K", "KK", "h", "hh", "hhh",
        "m", "mm", "mmm", "s", "ss", "sss",
        "S", "SS", "SSS", "SSSS", "SSSSSS", "SSSSSSSSS",
        "z", "zz", "zzz", "zzzz", "zzzzz",
        "Z", "ZZ", "ZZZ", "ZZZZ", "ZZZZZ",
        "X", "XX", "XXX",
    };

    static final String[] COMPOSITE_PATTERNS = {
        "yyyy-MM-dd'T'HH:mm:ss'Z'",
        "yyyy-MM-dd'T'HH:mm:ssXXX",
        "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
        "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "yyyy-MM-dd HH:mm:ss.SSSSSS",
        "EEE, d MMM yyyy HH:mm:ss Z",
        "EEE, dd MMM yyyy HH:mm:ss zzz",
        "EEEE, MMMM d, yyyy",
        "YYYY-'W'ww-u",
        "Y-w-E",
        "hh 'o''clock' a, zzzz",
        "K:mm a, z",
        "yyyy.MM.dd G 'at' HH:mm:ss z",
        "yyMMddHHmmssZ",
        "yyyyMMddHHmmssSSS",
        "dd/MM/yy h:mm a",
        "''yy''",
        "'''T'''",
        "'It''s' EEEE",
        "'quoted ''text'' with letters' yyyy",
        "ü yyyy ß",
        "D 'day' F 'dowim' W 'wom' w 'woy'",
        "kk:mm KK:mm hh:mm HH:mm",
        "G yyyy-MM-dd",
        "MMM d, yyyy h:mm:ss a",
    };

    static final String[] ZONE_PATTERNS = {
        "yyyy-MM-dd HH:mm:ss.SSS z Z XXX", "zzzz|X|XX|a h:mm|E d MMM|D w Y",
    };

    static final String[] ZONES = {
        "UTC", "GMT", "PST", "EST", "MST", "HST", "CST", "CET", "ECT", "IST", "JST",
        "America/Los_Angeles", "America/New_York", "America/Chicago", "America/Denver",
        "America/Phoenix", "America/Anchorage", "America/St_Johns", "America/Sao_Paulo",
        "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Dublin", "Europe/Moscow",
        "Asia/Kolkata", "Asia/Kathmandu", "Asia/Tokyo", "Asia/Shanghai",
        "Australia/Sydney", "Australia/Adelaide", "Pacific/Auckland", "Pacific/Chatham",
        "Africa/Johannesburg", "Etc/GMT+8", "GMT+05:30", "GMT-08:00", "GMT+00:00", "GMT-03:30",
    };

    /// Instants for the letter patterns: year boundaries (week years), leap days, hours around
    /// noon and midnight, milliseconds, years 1, 999 and 10000, before the epoch.
    static final String[] INSTANTS = {
        "2026-11-27T10:00:00Z",
        "2019-07-18T10:27:15.123Z",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999Z",
        "2020-12-26T12:00:00Z", "2020-12-27T00:00:00Z", "2020-12-31T23:59:59Z", "2021-01-01T00:00:00.007Z",
        "2021-01-02T11:59:59.045Z", "2021-01-03T12:00:00Z",
        "2026-12-26T23:00:00Z", "2026-12-27T01:00:00Z", "2027-01-01T13:00:00Z", "2027-01-02T00:30:00Z",
        "2016-01-01T00:00:00Z", "2016-12-31T00:00:00Z", "2017-01-01T00:00:00Z", "2022-01-01T00:00:00Z",
        "2000-02-29T06:07:08.009Z", "1900-03-01T00:00:00Z", "1600-02-29T23:00:00Z",
        "1582-10-10T00:00:00Z", "1066-10-14T09:00:00Z",
        "0999-06-15T18:45:30.500Z",
        "0001-01-01T00:00:00Z", "0001-12-31T23:59:59Z",
        "0000-12-31T12:00:00Z", "-0043-03-15T12:00:00Z",
        "9999-12-31T23:59:59.999Z", "+10000-01-01T00:00:00Z", "+12345-06-07T08:09:10Z",
    };

    /// Instants for the zone patterns: DST transitions in both hemispheres, old and far dates.
    static final String[] ZONE_INSTANTS = {
        "2026-11-27T10:00:00Z", "2026-07-01T12:00:00Z", "2026-01-15T00:30:00Z",
        "2026-03-08T09:59:59.999Z", "2026-03-08T10:00:00Z",
        "2026-11-01T08:59:59Z", "2026-11-01T09:00:00Z",
        "2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-10-25T00:59:59Z", "2026-10-25T01:00:00Z",
        "2026-04-05T15:59:59Z", "2026-04-05T16:00:00Z", "2026-10-03T16:00:00Z",
        "1970-01-01T00:00:00Z", "1995-06-01T00:00:00Z", "2037-07-01T00:00:00Z",
    };

    static final String[] COMPILE_PATTERNS = {
        "yyyy-Q", "b", "yyyy-MM-dd'T'HH:mm:ss'Z", "'", "XXXX", "XXXXX", "ü", "yyyy''MM", "''",
        "'a''b'", "I", "hh:mm:ss A", "yyyy-MM-dd'T'HH:mm:ss.fff", "e", "c", "", "{}", "x",
    };

    public static void main(String[] args) throws IOException {
        Path root = Path.of(args.length > 0 ? args[0] : ".");
        TimeZone.setDefault(TimeZone.getTimeZone("UTC"));
        Locale.setDefault(Locale.US);
        writeZoneNames(root.resolve("crates/pollen-template/src/zone_names.tsv"));
        writeFormat(root.resolve("fixtures/patterns/format.tsv"));
        writeParse(root.resolve("fixtures/patterns/parse.tsv"));
        writeCompile(root.resolve("fixtures/patterns/compile.tsv"));
    }

    static SimpleDateFormat formatter(String pattern, String zone) {
        SimpleDateFormat format = new SimpleDateFormat(pattern, Locale.US);
        GregorianCalendar calendar = new GregorianCalendar(TimeZone.getTimeZone(zone), Locale.US);
        calendar.setGregorianChange(new Date(Long.MIN_VALUE));
        format.setCalendar(calendar);
        format.setLenient(false);
        format.set2DigitYearStart(Date.from(Instant.parse("1950-01-01T00:00:00Z")));
        return format;
    }

    static void writeZoneNames(Path path) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("# id\traw offset s\tdst saving s\tlong standard\tshort standard\tlong daylight\tshort daylight");
        lines.add("# DateFormatSymbols.getInstance(Locale.US).getZoneStrings(), in Java's order; generated by xtask/java/PatternGolden.java");
        for (String[] row : DateFormatSymbols.getInstance(Locale.US).getZoneStrings()) {
            TimeZone tz = TimeZone.getTimeZone(row[0]);
            lines.add(String.join("\t", row[0], String.valueOf(tz.getRawOffset() / 1000),
                String.valueOf(tz.getDSTSavings() / 1000), row[1], row[2], row[3], row[4]));
        }
        write(path, lines);
    }

    static void writeFormat(Path path) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("# pattern\tzone\tepoch ms\tinstant\tSimpleDateFormat output (generated by xtask/java/PatternGolden.java)");
        for (String pattern : LETTER_PATTERNS) {
            for (String instant : INSTANTS) {
                formatLine(lines, pattern, "UTC", instant);
            }
        }
        for (String zone : new String[] {"UTC", "America/Los_Angeles"}) {
            for (String pattern : COMPOSITE_PATTERNS) {
                for (int i = 0; i < INSTANTS.length; i += 2) {
                    formatLine(lines, pattern, zone, INSTANTS[i]);
                }
            }
        }
        for (String zone : ZONES) {
            for (String pattern : ZONE_PATTERNS) {
                for (String instant : ZONE_INSTANTS) {
                    formatLine(lines, pattern, zone, instant);
                }
            }
        }
        write(path, lines);
    }

    static void formatLine(List<String> lines, String pattern, String zone, String instant) {
        long millis = Instant.parse(instant).toEpochMilli();
        String output = formatter(pattern, zone).format(new Date(millis));
        lines.add(String.join("\t", pattern, zone, String.valueOf(millis), instant, output));
    }

    static final String[][] PARSE_CASES = {
        // pattern, zone, values...
        {"yyyy-MM-dd'T'HH:mm:ss'Z'", "GMT", "2019-07-18T10:27:15Z", "2019-07-18T10:27:15", "2019-7-8T1:2:3Z",
            "2019-13-01T00:00:00Z", "2019-02-29T00:00:00Z", "2020-02-29T00:00:00Z", "2019-07-18T24:00:00Z",
            "2019-07-18T10:60:00Z", "2019-07-18T10:27:60Z", "2019-07-18T10:27:15Zjunk", "2019-07-18T10:27:15.123Z",
            "x2019", "", "2019-07-18 10:27:15Z", " 2019-07-18T10:27:15Z", "2019-07-18T10:27", "0000-01-01T00:00:00Z",
            "-2019-07-18T10:27:15Z", "12019-07-18T10:27:15Z", "2019-00-18T10:27:15Z", "2019-07-00T10:27:15Z",
            "2019-07-18T10:27:15z"},
        {"yyyy-MM-dd'T'HH:mm:ss'Z'", "America/New_York", "2019-07-18T10:27:15Z", "2019-01-18T10:27:15Z"},
        {"yyyyMMdd", "UTC", "20190718", "2019718", "201907181", "2019071"},
        {"yyyyMMddHHmmss", "UTC", "20190718102715", "2019071810271"},
        {"yyMMdd", "UTC", "190718", "500101", "491231"},
        {"yy-MM-dd", "UTC", "19-07-18", "49-01-01", "50-01-01", "99-12-31", "00-01-01", "2019-07-18", "7-07-18", "119-07-18"},
        {"y-M-d", "UTC", "19-7-18", "2019-7-18", "019-7-18"},
        {"yyy-M-d", "UTC", "19-7-18"},
        {"EEE, d MMM yyyy HH:mm:ss Z", "UTC", "Thu, 18 Jul 2019 10:27:15 -0800", "thu, 18 jul 2019 10:27:15 +0530",
            "Fri, 18 Jul 2019 10:27:15 +0000", "Thursday, 18 July 2019 10:27:15 GMT", "Thu, 18 Jul 2019 10:27:15 PST",
            "Thu, 18 Jul 2019 10:27:15 PDT", "Thu, 18 Jul 2019 10:27:15 GMT-8:00", "Thu, 18 Jul 2019 10:27:15 GMT-08:00",
            "Thu, 18 Jul 2019 10:27:15 +08", "Thu, 18 Jul 2019 10:27:15 +2400", "Thu, 18 Jul 2019 10:27:15 +0860",
            "Thu, 18 Jul 2019 10:27:15 -08:00", "Thu, 18 Jul 2019 10:27:15 EST", "Thu, 18 Jul 2019 10:27:15 CEST",
            "Thu, 18 Jul 2019 10:27:15 Central European Summer Time", "Thu, 18 Jul 2019 10:27:15 IST",
            "Thu, 18 Jul 2019 10:27:15 JST", "Thu, 18 Jul 2019 10:27:15 UTC", "Thu, 18 Jul 2019 10:27:15 XYZ",
            "Thu,18 Jul 2019 10:27:15 +0000", "Thu, 18 Jly 2019 10:27:15 +0000"},
        {"yyyy-MM-dd'T'HH:mm:ssXXX", "UTC", "2019-07-18T10:27:15+05:30", "2019-07-18T10:27:15Z",
            "2019-07-18T10:27:15-08", "2019-07-18T10:27:15+0530", "2019-07-18T10:27:15-08:00", "2019-07-18T10:27:15",
            "2019-07-18T10:27:15 +05:30", "2019-07-18T10:27:15+5:30", "2019-07-18T10:27:15UTC"},
        {"yyyy-MM-dd'T'HH:mm:ssX", "UTC", "2019-07-18T10:27:15+05", "2019-07-18T10:27:15+05:30", "2019-07-18T10:27:15Z"},
        {"yyyy-MM-dd'T'HH:mm:ssXX", "UTC", "2019-07-18T10:27:15+0530", "2019-07-18T10:27:15+05:30", "2019-07-18T10:27:15-08"},
        {"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "UTC", "2019-07-18T10:27:15.123Z", "2019-07-18T10:27:15.5Z",
            "2019-07-18T10:27:15.05Z", "2019-07-18T10:27:15.1234Z", "2019-07-18T10:27:15.Z"},
        {"yyyy-MM-dd'T'HH:mm:ss.SSSSSS", "UTC", "2019-07-18T10:27:15.123456", "2019-07-18T10:27:15.000123",
            "2019-07-18T10:27:15.000999"},
        {"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", "UTC", "2019-07-18T10:27:15.123Z", "2019-07-18T10:27:15Z"},
        {"yyyy-MM-dd HH:mm", "America/Los_Angeles", "2026-03-08 01:59", "2026-03-08 02:30", "2026-03-08 03:00",
            "2026-11-01 00:59", "2026-11-01 01:30", "2026-11-01 02:00", "2026-07-01 12:00", "2026-01-01 12:00"},
        {"yyyy-MM-dd HH:mm", "Europe/Paris", "2026-03-29 02:30", "2026-10-25 02:30", "2026-10-25 03:00"},
        {"yyyy-MM-dd HH:mm", "Australia/Sydney", "2026-04-05 02:30", "2026-10-04 02:30"},
        {"MM/dd/yyyy hh:mm a", "UTC", "07/18/2019 12:00 AM", "07/18/2019 12:00 PM", "07/18/2019 13:00 PM",
            "07/18/2019 00:00 AM", "07/18/2019 11:59 pm", "07/18/2019 01:00", "07/18/2019 01:00 XM"},
        {"dd/MM/yyyy kk:mm", "UTC", "18/07/2019 24:00", "18/07/2019 00:00", "18/07/2019 01:00", "18/07/2019 25:00"},
        {"yyyy-MM-dd KK:mm a", "UTC", "2019-07-18 11:00 PM", "2019-07-18 12:00 PM", "2019-07-18 00:00 AM"},
        {"yyyy-MM-dd HH:mm a", "UTC", "2019-07-18 15:00 PM", "2019-07-18 15:00 AM", "2019-07-18 03:00 PM"},
        {"yyyy-MM-dd hh:mm", "UTC", "2019-07-18 03:00", "2019-07-18 12:00"},
        {"YYYY-MM-dd", "UTC", "2026-11-27", "2027-01-01", "2020-12-31"},
        {"YYYY-'W'ww-u", "UTC", "2026-W48-5", "2027-W01-1", "2027-W01-7", "2026-W53-1", "2026-W00-1", "2026-W48-8"},
        {"YYYY-ww-EEE", "UTC", "2026-48-Fri", "2021-01-Sun", "2021-01-Sat"},
        {"YYYY ww", "UTC", "2026 48"},
        {"yyyy YYYY", "UTC", "2019 2026"},
        {"YYYY yyyy", "UTC", "2026 2019"},
        {"yyyy-DDD", "UTC", "2019-199", "2019-366", "2020-366", "2019-0", "2019-001"},
        {"yyyy-MM-dd DDD", "UTC", "2019-07-18 199", "2019-07-18 200"},
        {"yyyy DDD MM-dd", "UTC", "2019 199 07-18", "2019 200 07-18"},
        {"G yyyy-MM-dd", "UTC", "BC 0001-01-01", "AD 2019-07-18", "bc 0044-03-15", "CE 2019-07-18"},
        {"yyyy-MM-dd G", "UTC", "0044-03-15 BC"},
        {"HH:mm", "UTC", "10:27", "7:5", "24:00"},
        {"HH:mm", "America/Los_Angeles", "10:27"},
        {"yyyy-MM-dd", "America/New_York", "2019-07-18"},
        {"yyyy-MM-dd", "PST", "2019-07-18", "2019-01-18"},
        {"yyyy-MM-dd", "EST", "2019-07-18"},
        {"yyyy-MM-dd", "GMT+05:30", "2019-07-18"},
        {"yyyy-MM-dd", "Asia/Kathmandu", "2019-07-18"},
        {"MMM d yyyy", "UTC", "sep 5 2019", "September 5 2019", "Sept 5 2019", "SEPTEMBER 5 2019", "Sep5 2019"},
        {"MMMM yyyy", "UTC", "July 2019", "Jul 2019", "Juli 2019"},
        {"LLLL yyyy", "UTC", "July 2019", "Jul 2019"},
        {"yyyy-MM-dd z", "UTC", "2019-07-18 PST", "2019-07-18 Pacific Standard Time", "2019-07-18 PDT",
            "2019-07-18 CET", "2019-07-18 CEST", "2019-07-18 UTC", "2019-07-18 GMT+05:30", "2019-07-18 GMT",
            "2019-07-18 EST", "2019-07-18 EDT", "2019-07-18 IST", "2019-07-18 XYZ", "2019-07-18 +0530", "2019-07-18 pst",
            "2019-07-18 BST", "2019-07-18 AEST", "2019-07-18 MST", "2019-07-18 CST", "2019-07-18 HST"},
        {"yyyy-MM-dd z", "America/Chicago", "2019-07-18 CST", "2019-07-18 CDT"},
        {"yyyy-MM-dd z", "Asia/Shanghai", "2019-07-18 CST"},
        {"yyyy-MM-dd HH:mm z", "UTC", "2019-01-18 10:00 PDT", "2019-07-18 10:00 PST"},
        {"yyyy-MM-dd'T'HH:mm:ss", "UTC", "2019-07-18T10:27:15-08:00", "2019-07-18T10:27:15.999"},
        {"EEEE", "UTC", "Friday", "Thursday"},
        {"EEE yyyy", "UTC", "Fri 2026"},
        {"u", "UTC", "7", "1", "0"},
        {"yyyy-MM-dd W", "UTC", "2019-07-18 3", "2019-07-18 4"},
        {"yyyy-MM-dd F", "UTC", "2019-07-18 3", "2019-07-18 2"},
        {"yyyy-MM-dd w", "UTC", "2019-07-18 29", "2019-07-18 30"},
        {"yyyy-MM W E", "UTC", "2019-07 3 Thu", "2019-07 1 Mon"},
        {"yyyy-MM F E", "UTC", "2019-07 3 Thu", "2019-07 5 Wed"},
        {"yyyy w E", "UTC", "2019 29 Thu", "2019 1 Sun"},
        {"yyyy-MM-dd E", "UTC", "2019-07-18 Thu", "2019-07-18 Fri"},
        {"E yyyy-MM-dd", "UTC", "Fri 2019-07-18", "Thu 2019-07-18"},
        {"d MMM yyyy", "UTC", "18 Jul 2019", "  18 Jul 2019", "18  Jul 2019", "18 Jul  2019"},
        {"dd.MM.yyyy", "UTC", "18.07.2019", "18.7.2019", "1.7.19"},
        {"yyyy-MM-dd'T'HH:mm:ssZ", "UTC", "2019-07-18T10:27:15+0000", "2019-07-18T10:27:15-0800", "2019-07-18T10:27:15Z"},
        {"'at' HH 'o''clock'", "UTC", "at 10 o'clock", "at 10 oclock"},
        {"yyyy-MM-dd'T'HH:mm:ss'Z'", "UTC", "9999-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0999-06-15T18:45:30Z"},
        {"", "UTC", "", "2019"},
        {"''", "UTC", "'", "x"},
        {"MMyyyy", "UTC", "072019", "7201"},
        {"HHmm", "UTC", "1027", "102"},
        {"S", "UTC", "5", "999", "1000"},
    };

    static void writeParse(Path path) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("# pattern\tzone\tvalue\tnon-lenient SimpleDateFormat.parse: ok EPOCH_MS INSTANT | error INDEX (generated by xtask/java/PatternGolden.java)");
        for (String[] group : PARSE_CASES) {
            for (int i = 2; i < group.length; i++) {
                lines.add(String.join("\t", group[0], group[1], group[i], parse(group[0], group[1], group[i])));
            }
        }
        // Round trips: every composite pattern parses what it formats, in three zones.
        for (String zone : new String[] {"UTC", "America/Los_Angeles", "GMT+05:30"}) {
            for (String pattern : COMPOSITE_PATTERNS) {
                for (String instant : new String[] {"2026-11-27T10:00:00Z", "2019-07-18T10:27:15.123Z", "2021-01-02T11:59:59.045Z", "0999-06-15T18:45:30.500Z"}) {
                    String value = formatter(pattern, zone).format(new Date(Instant.parse(instant).toEpochMilli()));
                    lines.add(String.join("\t", pattern, zone, value, parse(pattern, zone, value)));
                }
            }
        }
        write(path, lines);
    }

    static String parse(String pattern, String zone, String value) {
        ParsePosition position = new ParsePosition(0);
        Date date = formatter(pattern, zone).parse(value, position);
        if (date == null || position.getIndex() == 0) {
            return "error " + position.getErrorIndex();
        }
        return "ok " + date.getTime() + " " + date.toInstant();
    }

    static void writeCompile(Path path) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("# pattern\tnew SimpleDateFormat(pattern, Locale.US): ok | error MESSAGE (generated by xtask/java/PatternGolden.java)");
        for (String pattern : COMPILE_PATTERNS) {
            String verdict;
            try {
                new SimpleDateFormat(pattern, Locale.US);
                verdict = "ok";
            } catch (IllegalArgumentException e) {
                verdict = "error " + e.getMessage();
            }
            lines.add(pattern + "\t" + verdict);
        }
        write(path, lines);
    }

    static void write(Path path, List<String> lines) throws IOException {
        Files.createDirectories(path.getParent());
        Files.write(path, lines, StandardCharsets.UTF_8);
        System.out.println("wrote " + path + " (" + lines.size() + " lines)");
    }
}
