//! The sample content: the portal's sections and twenty articles of a fictional province, each
//! with its Vietnamese and English title.

use time::macros::datetime;
use time::OffsetDateTime;
use visitor_counter::articles::{Article, Catalog};
use visitor_counter::ArticleId;

/// The portal's sections, in the order the home page shows them: (slug, Vietnamese, English).
pub const SECTIONS: [(&str, &str, &str); 4] = [
    ("thoi-su", "Thời sự", "Current affairs"),
    ("kinh-te", "Kinh tế", "Economy"),
    ("van-hoa", "Văn hóa", "Culture"),
    ("xa-hoi", "Xã hội", "Society"),
];

/// (id, slug, section, published, Vietnamese title, English title). The province is fictional.
type Sample = (
    u64,
    &'static str,
    &'static str,
    OffsetDateTime,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
pub const SAMPLES: [Sample; 20] = [
    (1, "khai-mac-ky-hop-thu-15-hdnd-tinh", "thoi-su", datetime!(2026-04-20 08:15 +07:00),
     "Khai mạc Kỳ họp thứ 15 Hội đồng nhân dân tỉnh khóa XVII",
     "15th session of the Provincial People's Council opens"),
    (2, "ubnd-tinh-trien-khai-nhiem-vu-2026", "thoi-su", datetime!(2026-04-16 10:00 +07:00),
     "UBND tỉnh triển khai nhiệm vụ phát triển kinh tế - xã hội năm 2026",
     "Provincial People's Committee sets out the 2026 socio-economic tasks"),
    (3, "tham-cac-xa-vung-cao-bien-gioi", "thoi-su", datetime!(2026-04-09 16:40 +07:00),
     "Đoàn công tác của tỉnh thăm, làm việc tại các xã vùng cao biên giới",
     "Provincial delegation visits highland border communes"),
    (4, "tong-ket-cai-cach-hanh-chinh-2025", "thoi-su", datetime!(2026-03-27 09:30 +07:00),
     "Hội nghị tổng kết công tác cải cách hành chính năm 2025",
     "Conference reviews administrative reform in 2025"),
    (5, "phong-chong-chay-rung-mua-kho", "thoi-su", datetime!(2026-03-12 14:05 +07:00),
     "Tăng cường phòng, chống cháy rừng trong mùa khô",
     "Forest fire prevention stepped up for the dry season"),
    (6, "xuat-khau-quy-i-tang-12-phan-tram", "kinh-te", datetime!(2026-04-18 07:45 +07:00),
     "Kim ngạch xuất khẩu quý I tăng 12% so với cùng kỳ",
     "First-quarter exports up 12% year on year"),
    (7, "khoi-cong-cao-toc-noi-cua-khau", "kinh-te", datetime!(2026-04-11 09:00 +07:00),
     "Khởi công dự án đường cao tốc nối tỉnh với cửa khẩu quốc tế",
     "Work begins on the expressway to the international border gate"),
    (8, "nong-dan-trung-mua-ca-phe", "kinh-te", datetime!(2026-03-30 15:20 +07:00),
     "Nông dân trúng mùa cà phê, giá bán ở mức cao",
     "Coffee farmers enjoy a bumper crop and high prices"),
    (9, "thu-hut-18-du-an-vao-khu-cong-nghiep", "kinh-te", datetime!(2026-03-19 11:10 +07:00),
     "Thu hút 18 dự án đầu tư mới vào các khu công nghiệp",
     "Industrial parks draw 18 new investment projects"),
    (10, "hop-tac-xa-che-dat-ocop-4-sao", "kinh-te", datetime!(2026-03-05 08:00 +07:00),
     "Hợp tác xã chè đạt chứng nhận OCOP 4 sao",
     "Tea cooperative earns a 4-star OCOP certificate"),
    (11, "le-hoi-hoa-ban-2026", "van-hoa", datetime!(2026-04-19 19:30 +07:00),
     "Lễ hội hoa ban 2026 thu hút hàng vạn du khách",
     "2026 Ban Flower Festival draws tens of thousands of visitors"),
    (12, "bao-ton-hat-then-dong-bao-tay", "van-hoa", datetime!(2026-04-07 10:25 +07:00),
     "Bảo tồn nghệ thuật hát then của đồng bào Tày",
     "Preserving the Then singing of the Tày people"),
    (13, "khanh-thanh-nha-van-hoa-ban-na-lai", "van-hoa", datetime!(2026-03-25 16:00 +07:00),
     "Khánh thành nhà văn hóa cộng đồng tại bản Nà Lai",
     "Community cultural house opens in Nà Lai village"),
    (14, "trung-bay-di-san-van-hoa-phi-vat-the", "van-hoa", datetime!(2026-03-15 09:45 +07:00),
     "Trưng bày chuyên đề về di sản văn hóa phi vật thể của tỉnh",
     "Exhibition on the province's intangible cultural heritage"),
    (15, "lien-hoan-nghe-thuat-quan-chung-lan-v", "van-hoa", datetime!(2026-03-08 20:00 +07:00),
     "Liên hoan nghệ thuật quần chúng các dân tộc lần thứ V",
     "Fifth festival of ethnic amateur arts"),
    (16, "thi-sinh-dang-ky-thi-tot-nghiep-thpt", "xa-hoi", datetime!(2026-04-17 13:30 +07:00),
     "Hơn 12.000 thí sinh đăng ký dự thi tốt nghiệp trung học phổ thông",
     "Over 12,000 candidates register for the high-school graduation exam"),
    (17, "ban-giao-150-can-nha-cho-ho-ngheo", "xa-hoi", datetime!(2026-04-10 08:50 +07:00),
     "Bàn giao 150 căn nhà cho hộ nghèo trước mùa mưa lũ",
     "150 houses handed over to poor households before the flood season"),
    (18, "benh-vien-tinh-can-thiep-tim-mach", "xa-hoi", datetime!(2026-04-02 14:15 +07:00),
     "Bệnh viện Đa khoa tỉnh triển khai kỹ thuật can thiệp tim mạch",
     "Provincial General Hospital introduces cardiac intervention"),
    (19, "ra-quan-thang-thanh-nien-2026", "xa-hoi", datetime!(2026-03-22 07:30 +07:00),
     "Ra quân Tháng Thanh niên năm 2026",
     "Youth Month 2026 campaign launched"),
    (20, "tiem-vac-xin-soi-vung-sau", "xa-hoi", datetime!(2026-03-10 10:40 +07:00),
     "Tiêm vắc xin sởi cho trẻ em tại các xã vùng sâu",
     "Measles vaccination for children in remote communes"),
];

/// The articles, under their Vietnamese titles.
pub fn sample_catalog() -> Catalog {
    let catalog = Catalog::new();
    for (id, slug, section, published, vi, _) in SAMPLES {
        let article = Article::new(ArticleId::from(id), slug, vi, section, published);
        // The samples have distinct ids and slugs: insert cannot fail.
        let _ = catalog.insert(article);
    }
    catalog
}
