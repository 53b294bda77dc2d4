#![cfg(feature = "bots")]
//! `bots::is_bot`: well-known crawlers, preview fetchers, HTTP libraries and headless browsers
//! are bots, as are empty User-Agents; the browsers people in Vietnam actually use (desktop,
//! mobile and in-app) are not.
//!
//! Each test checks a whole table and lists every User-Agent that was misjudged, so one run shows
//! all of them.

use visitor_counter::bots::is_bot;

/// Panics listing every `(name, user agent)` for which `is_bot` is not `expected`.
fn check(expected: bool, table: &[(&str, &str)]) {
    let wrong: Vec<String> = table
        .iter()
        .filter(|(_, ua)| is_bot(ua) != expected)
        .map(|(name, ua)| format!("  {name}: {ua:?}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} User-Agents were {} bots:\n{}",
        wrong.len(),
        table.len(),
        if expected {
            "not judged"
        } else {
            "wrongly judged"
        },
        wrong.join("\n")
    );
}

#[test]
fn search_engine_crawlers_are_bots() {
    check(
        true,
        &[
            (
                "Googlebot desktop",
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ),
            (
                "Googlebot smartphone",
                "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 \
                 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ),
            (
                "Googlebot desktop (Chrome-based)",
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; \
                 +http://www.google.com/bot.html) Chrome/126.0.6478.126 Safari/537.36",
            ),
            (
                "Bingbot",
                "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            ),
            (
                "Bingbot (Chrome-based)",
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; \
                 +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
            ),
            (
                "BingPreview",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/79.0.3945.88 Safari/537.36 BingPreview/1.0b",
            ),
            (
                "YandexBot",
                "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
            ),
            (
                "Baiduspider",
                "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
            ),
            (
                "coccocbot (Cốc Cốc search)",
                "Mozilla/5.0 (compatible; coccocbot-web/1.0; +http://help.coccoc.com/searchengine)",
            ),
        ],
    );
}

#[test]
fn social_preview_fetchers_are_bots() {
    check(
        true,
        &[
            (
                "facebookexternalhit",
                "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            ),
            ("Twitterbot", "Twitterbot/1.0"),
        ],
    );
}

#[test]
fn seo_crawlers_are_bots() {
    check(
        true,
        &[
            (
                "AhrefsBot",
                "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
            ),
            (
                "SemrushBot",
                "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
            ),
        ],
    );
}

#[test]
fn http_libraries_and_headless_browsers_are_bots() {
    check(
        true,
        &[
            ("curl", "curl/8.5.0"),
            ("Wget", "Wget/1.21.4"),
            ("python-requests", "python-requests/2.31.0"),
            ("Go-http-client 1.1", "Go-http-client/1.1"),
            ("Go-http-client 2.0", "Go-http-client/2.0"),
            (
                "HeadlessChrome",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 HeadlessChrome/120.0.6099.109 Safari/537.36",
            ),
        ],
    );
}

#[test]
fn empty_and_whitespace_user_agents_are_bots() {
    check(
        true,
        &[
            ("empty", ""),
            ("one space", " "),
            ("spaces", "     "),
            ("tab", "\t"),
            ("mixed whitespace", " \t \r\n "),
        ],
    );
}

#[test]
fn desktop_browsers_are_not_bots() {
    check(
        false,
        &[
            (
                "Chrome on Windows",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36",
            ),
            (
                "Chrome on macOS",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            ),
            (
                "Chrome on Linux",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36",
            ),
            (
                "Firefox on Windows",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            ),
            (
                "Firefox on Linux",
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            ),
            (
                "Safari on macOS",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            ),
            (
                "Edge on Windows",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            ),
            (
                "Opera on Windows",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0",
            ),
            (
                "Cốc Cốc on Windows",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 coc_coc_browser/121.0.0 Chrome/115.0.0.0 Safari/537.36",
            ),
            (
                "Cốc Cốc on macOS",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
                 (KHTML, like Gecko) coc_coc_browser/136.0.228 Chrome/130.0.6723.228 Safari/537.36",
            ),
        ],
    );
}

#[test]
fn mobile_browsers_are_not_bots() {
    check(
        false,
        &[
            (
                "Chrome on Android",
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Mobile Safari/537.36",
            ),
            (
                "Chrome on iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            ),
            (
                "Safari on iPhone",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            ),
            (
                "Safari on iPad",
                "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
            ),
            (
                "Firefox on Android",
                "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
            ),
            (
                "Firefox on iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
            ),
            (
                "Edge on Android",
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0",
            ),
            (
                "Samsung Internet",
                "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 \
                 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
            ),
            (
                "Cốc Cốc on Android",
                "Mozilla/5.0 (Linux; Android 13; SM-A325F) AppleWebKit/537.36 (KHTML, like Gecko) \
                 coc_coc_browser/136.0.228 Chrome/130.0.6723.228 Mobile Safari/537.36",
            ),
            (
                "UC Browser on Android",
                "Mozilla/5.0 (Linux; U; Android 10; en-US; RMX1911 Build/QKQ1.200209.002) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 \
                 UCBrowser/13.4.0.1306 Mobile Safari/537.36",
            ),
        ],
    );
}

#[test]
fn in_app_browsers_are_not_bots() {
    check(
        false,
        &[
            (
                "Zalo on Android",
                "Mozilla/5.0 (Linux; Android 12; SM-A525F Build/SP1A.210812.016; wv) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 \
                 Mobile Safari/537.36 Zalo android/12100603 ZaloTheme/light ZaloLanguage/vi",
            ),
            (
                "Zalo on iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148 Zalo iOS/474 ZaloTheme/light ZaloLanguage/vi",
            ),
            (
                "Facebook on Android",
                "Mozilla/5.0 (Linux; Android 14; SM-A546E Build/UP1A.231005.007; wv) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 \
                 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/471.0.0.35.79;]",
            ),
            (
                "Facebook on iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.39.109;\
                 FBBV/636000000;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;\
                 FBCR/;FBID/phone;FBLC/vi_VN;FBOP/80]",
            ),
        ],
    );
}

#[test]
fn detection_ignores_case() {
    assert!(is_bot("GOOGLEBOT/2.1"));
    assert!(is_bot("CURL/8.5.0"));
    assert!(is_bot("Mozilla/5.0 (compatible; BINGBOT/2.0)"));
}

#[test]
fn other_common_crawlers_are_bots() {
    check(
        true,
        &[
            (
                "Applebot",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; \
                 +http://www.apple.com/go/applebot)",
            ),
            (
                "DuckDuckBot",
                "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
            ),
            (
                "Yahoo Slurp",
                "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
            ),
            (
                "PetalBot",
                "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
            ),
            (
                "Bytespider",
                "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
            ),
            (
                "GPTBot",
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; \
                 +https://openai.com/gptbot)",
            ),
            (
                "ClaudeBot",
                "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; \
                 +claudebot@anthropic.com)",
            ),
            (
                "MJ12bot",
                "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
            ),
            (
                "DotBot",
                "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; \
                 help@moz.com)",
            ),
            (
                "LinkedInBot",
                "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            ),
            ("TelegramBot", "TelegramBot (like TwitterBot)"),
            ("WhatsApp link preview", "WhatsApp/2.23.20.0 A"),
            (
                "Discordbot",
                "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            ),
            (
                "Slackbot",
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            ),
            (
                "Google-InspectionTool",
                "Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)",
            ),
            (
                "AdsBot-Google",
                "AdsBot-Google (+http://www.google.com/adsbot.html)",
            ),
            (
                "Chrome-Lighthouse",
                "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
            ),
            ("UptimeRobot", "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"),
            ("okhttp", "okhttp/4.12.0"),
            ("axios", "axios/1.6.7"),
            ("node-fetch", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"),
            ("Apache-HttpClient", "Apache-HttpClient/4.5.14 (Java/17.0.9)"),
            ("PostmanRuntime", "PostmanRuntime/7.36.1"),
        ],
    );
}

#[test]
fn other_browsers_and_in_app_views_are_not_bots() {
    check(
        false,
        &[
            (
                "Cốc Cốc on iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) coc_coc_browser/136.0.228 Mobile/15E148 Safari/604.1",
            ),
            (
                "Zalo PC",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 ZaloPC-win32-24v477 Chrome/108.0.5359.215 Electron/22.3.27 Safari/537.36",
            ),
            (
                "Android WebView",
                "Mozilla/5.0 (Linux; Android 13; SM-A536E Build/TP1A.220624.014; wv) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 \
                 Mobile Safari/537.36",
            ),
            (
                "Messenger on iOS",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148 LightSpeed [FBAN/MessengerLiteForiOS;\
                 FBAV/470.0.0.31.107;FBBV/637000000;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;\
                 FBSV/17.5;FBSS/3;FBCR/;FBID/phone;FBLC/vi;FBOP/0]",
            ),
            (
                "Instagram on Android",
                "Mozilla/5.0 (Linux; Android 14; SM-A546E Build/UP1A.231005.007; wv) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 \
                 Mobile Safari/537.36 Instagram 337.0.0.35.102 Android (34/14; 450dpi; \
                 1080x2340; samsung; SM-A546E; a54x; s5e8835; vi_VN; 609176940)",
            ),
            (
                "TikTok on Android",
                "Mozilla/5.0 (Linux; Android 13; SM-A325F Build/TP1A.220624.014; wv) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 \
                 Mobile Safari/537.36 trill_330403 JsSdk/1.0 NetType/WIFI Channel/googleplay \
                 AppName/trill app_version/33.4.3 ByteLocale/vi ByteFullLocale/vi Region/VN \
                 BytedanceWebview/d8a21c6",
            ),
            (
                "Opera Mini",
                "Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; id) Presto/2.12.423 \
                 Version/12.16",
            ),
            (
                "Xiaomi MIUI Browser",
                "Mozilla/5.0 (Linux; U; Android 13; vi-vn; 2201117TG Build/TKQ1.221114.001) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/112.0.5615.136 \
                 Mobile Safari/537.36 XiaoMi/MiuiBrowser/14.9.1-gn",
            ),
            (
                "Huawei Browser",
                "Mozilla/5.0 (Linux; Android 10; HarmonyOS; ELS-NX9; HMSCore 6.13.0.302) \
                 AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.196 \
                 HuaweiBrowser/14.0.5.302 Mobile Safari/537.36",
            ),
            (
                "Yandex Browser",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/130.0.0.0 YaBrowser/24.12.0.0 Safari/537.36",
            ),
            (
                "Vivaldi",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/131.0.0.0 Safari/537.36 Vivaldi/7.0.3495.18",
            ),
        ],
    );
}

/// An HTTP library the isbot 0.1 crate missed: the JDK's `java.net.http.HttpClient`
/// (`^java/` only catches the legacy `HttpURLConnection`).
#[test]
fn jdk_http_client_is_a_bot() {
    check(true, &[("Java HttpClient", "Java-http-client/17.0.9")]);
}
