using System.Buffers.Binary;
using Catalogs.Imaging;
using Catalogs.Tests;
using SkiaSharp;

namespace Catalogs.Encoders.Tests;

public class ImagePreprocessorTests
{
    static readonly PreprocessOptions Small = new(16, 32, ResizeMode.Stretch, ChannelOrder.Rgb, [0, 0, 0], [1, 1, 1]);

    static byte[] Encode(SKBitmap bitmap, SKEncodedImageFormat format)
    {
        using var data = bitmap.Encode(format, 100);
        return data.ToArray();
    }

    static byte[] LeftRedRightBlue(int w, int h)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Blue);
            canvas.DrawRect(0, 0, w / 2, h, new SKPaint { Color = SKColors.Red });
        }
        return Encode(bitmap, SKEncodedImageFormat.Jpeg);
    }

    /// <summary>Inserts an EXIF APP1 segment carrying only an orientation tag right after the JPEG SOI
    /// marker.</summary>
    static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        var tiff = new byte[26];
        "II"u8.CopyTo(tiff);
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(2), 42);
        BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(4), 8);
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(8), 1);          // one IFD entry
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(10), 0x0112);    // Orientation
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(12), 3);         // SHORT
        BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(14), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(18), orientation);
        var app1 = new List<byte> { 0xFF, 0xE1 };
        int length = 2 + 6 + tiff.Length;
        app1.Add((byte)(length >> 8)); app1.Add((byte)length);
        app1.AddRange("Exif\0\0"u8.ToArray());
        app1.AddRange(tiff);
        return [.. jpeg[..2], .. app1, .. jpeg[2..]];
    }

    static (float R, float B) At(float[] t, PreprocessOptions o, int x, int y)
    {
        int plane = o.Width * o.Height;
        return (t[y * o.Width + x], t[2 * plane + y * o.Width + x]);
    }

    [Fact]
    public void Exif_orientation_6_rotates_the_image_upright()
    {
        // Stored 64×32 with red on the left; orientation 6 means "rotate 90° clockwise to view": red ends on top.
        var jpeg = WithExifOrientation(LeftRedRightBlue(64, 32), 6);
        Assert.Equal(SKEncodedOrigin.RightTop, ImagePreprocessor.ReadHeader(jpeg).Origin);
        var t = new float[Small.TensorLength];
        ImagePreprocessor.Preprocess(jpeg, Small, t);
        var top = At(t, Small, 8, 4);
        var bottom = At(t, Small, 8, 28);
        Assert.True(top.R > 0.8 && top.B < 0.2, $"top should be red: {top}");
        Assert.True(bottom.B > 0.8 && bottom.R < 0.2, $"bottom should be blue: {bottom}");
    }

    [Fact]
    public void Without_orientation_red_stays_left()
    {
        var t = new float[Small.TensorLength];
        var o = Small with { Width = 32, Height = 16 };
        t = new float[o.TensorLength];
        ImagePreprocessor.Preprocess(LeftRedRightBlue(64, 32), o, t);
        Assert.True(At(t, o, 4, 8).R > 0.8);
        Assert.True(At(t, o, 28, 8).B > 0.8);
    }

    [Fact]
    public void A_crop_fraction_scales_the_shorter_side_past_the_target_and_keeps_the_centre()
    {
        // 256×256, a 16-px red frame round a blue centre: 0.875 of 256 is 224, so the crop keeps exactly the
        // blue; the whole image scaled to 224 keeps a 14-px red frame.
        using var bitmap = new SKBitmap(new SKImageInfo(256, 256, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Red);
            canvas.DrawRect(16, 16, 224, 224, new SKPaint { Color = SKColors.Blue });
        }
        var png = Encode(bitmap, SKEncodedImageFormat.Png);
        var whole = new PreprocessOptions(224, 224, ResizeMode.ShorterSideCenterCrop, ChannelOrder.Rgb, [0, 0, 0],
            [1, 1, 1]);
        var cropped = whole with { CropFraction = 0.875f };
        var t = new float[whole.TensorLength];
        ImagePreprocessor.Preprocess(png, whole, t);
        Assert.True(At(t, whole, 4, 112).R > 0.9, $"the frame is kept: {At(t, whole, 4, 112)}");
        ImagePreprocessor.Preprocess(png, cropped, t);
        foreach (var (x, y) in new[] { (0, 0), (0, 112), (223, 223), (112, 0), (112, 112) })
            Assert.True(At(t, cropped, x, y).B > 0.9 && At(t, cropped, x, y).R < 0.1, $"({x}, {y}) is blue");
    }

    [Fact]
    public void Encoders_that_crop_differently_are_different_encoders()
    {
        // Sessions are shared by key: one that ignored the crop handed a 0.875 catalog the full-image encoder.
        var options = new EncoderOptions("m.onnx", "input", "464_quantized", PreprocessOptions.ImageNet(),
            Pooling.GlobalAverage, Dequantize: true, Normalize: true);
        Assert.NotEqual(options.Key, (options with
        {
            Preprocess = options.Preprocess with { CropFraction = 0.875f },
        }).Key);
    }

    [Fact]
    public void Transparency_is_flattened_on_white()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(40, 40, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        bitmap.Erase(new SKColor(0, 0, 0, 0));
        var t = new float[Small.TensorLength];
        ImagePreprocessor.Preprocess(Encode(bitmap, SKEncodedImageFormat.Png), Small, t);
        Assert.All(t, v => Assert.Equal(1f, v, 3));
    }

    [Fact]
    public void Normalisation_matches_the_formula_exactly_when_no_resampling_is_needed()
    {
        var rng = new Random(3);
        using var bitmap = new SKBitmap(new SKImageInfo(224, 224, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var pixels = new byte[224 * 224 * 4];
        rng.NextBytes(pixels);
        for (int i = 3; i < pixels.Length; i += 4) pixels[i] = 255;
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        var o = PreprocessOptions.ImageNet() with { Resize = ResizeMode.Stretch };
        var t = new float[o.TensorLength];
        ImagePreprocessor.Preprocess(Encode(bitmap, SKEncodedImageFormat.Png), o, t);
        int plane = 224 * 224;
        for (int i = 0; i < plane; i += 97)
            for (int c = 0; c < 3; c++)
                Assert.Equal((pixels[i * 4 + c] / 255f - o.Mean[c]) / o.Std[c], t[c * plane + i], 3);
        var bgr = o with { Order = ChannelOrder.Bgr };
        var tb = new float[o.TensorLength];
        ImagePreprocessor.Preprocess(Encode(bitmap, SKEncodedImageFormat.Png), bgr, tb);
        Assert.Equal((pixels[2] / 255f - bgr.Mean[0]) / bgr.Std[0], tb[0], 3);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Webp)]
    [InlineData(SKEncodedImageFormat.Jpeg)]
    public void Supported_formats_decode(SKEncodedImageFormat format)
    {
        var bytes = format == SKEncodedImageFormat.Jpeg ? LeftRedRightBlue(300, 200)
            : Encode(SKBitmap.Decode(LeftRedRightBlue(300, 200)), format);
        var t = new float[PreprocessOptions.ImageNet().TensorLength];
        ImagePreprocessor.Preprocess(bytes, PreprocessOptions.ImageNet(), t);
        Assert.Contains(t, v => v != 0);
    }

    [Fact]
    public void Refused_inputs_say_why()
    {
        var jpeg = File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/Dress")).Order().First());
        var t = new float[PreprocessOptions.ImageNet().TensorLength];
        var truncated = Assert.Throws<ImageRejectedException>(() =>
            ImagePreprocessor.Preprocess(jpeg[..(jpeg.Length / 2)], PreprocessOptions.ImageNet(), t));
        Assert.Equal(ImageRejection.Undecodable, truncated.Reason);
        Assert.Equal(ImageRejection.UnsupportedFormat, Assert.Throws<ImageRejectedException>(() =>
            ImagePreprocessor.ReadHeader("%PDF-1.4"u8)).Reason);
        Assert.Equal(ImageRejection.Undecodable, Assert.Throws<ImageRejectedException>(() =>
            ImagePreprocessor.ReadHeader("GIF89a"u8.ToArray().Concat(new byte[10]).ToArray())).Reason);
        var bomb = new byte[54 + 64];
        bomb[0] = (byte)'B'; bomb[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bomb.AsSpan(2), bomb.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bomb.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bomb.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bomb.AsSpan(18), 10_000);
        BinaryPrimitives.WriteInt32LittleEndian(bomb.AsSpan(22), 8_000);
        BinaryPrimitives.WriteInt16LittleEndian(bomb.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bomb.AsSpan(28), 24);
        var tooBig = Assert.Throws<ImageRejectedException>(() => ImagePreprocessor.ReadHeader(bomb));
        Assert.Equal(ImageRejection.TooManyPixels, tooBig.Reason);
    }
}

/// <summary>Images whose headers lie about their size: refused before any codec decodes them.</summary>
public class ImageHeaderRefusalTests
{
    static readonly float[] Tensor = new float[PreprocessOptions.ImageNet().TensorLength];

    static ImageRejectedException Refuse(byte[] image, long maxPixels = 40_000_000) =>
        Assert.Throws<ImageRejectedException>(() =>
            ImagePreprocessor.Preprocess(image, PreprocessOptions.ImageNet(), Tensor, new ImageLimits(maxPixels)));

    static byte[] Seed(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Seeds", name));

    [Fact]
    public void A_gif_whose_first_frame_is_larger_than_its_screen_is_judged_by_the_frame()
    {
        // A 1×1 logical screen with a 7000×7000 image descriptor: this crashed the process inside Skia.
        byte[] gif = [.. "GIF89a"u8, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
            0x2c, 0, 0, 0, 0, 0x58, 0x1b, 0x58, 0x1b, 0, 2, 2, 0x4c, 1, 0, 0x3b];
        var refused = Refuse(gif);
        Assert.Equal(ImageRejection.TooManyPixels, refused.Reason);
        Assert.Contains("7000×7000", refused.Message);
        // Within the limit, the frame still cannot be held by two bytes of LZW data.
        Assert.Contains("cannot hold", Refuse(gif, maxPixels: 100_000_000).Message);
    }

    [Fact]
    public void A_jpeg_whose_frame_header_promises_more_pixels_than_its_data_holds_is_refused()
    {
        var jpeg = File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/Dress")).Order().First());
        int sof = Enumerable.Range(2, jpeg.Length - 10).First(i => jpeg[i] == 0xFF && jpeg[i + 1] is 0xC0 or 0xC2);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), 6000);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), 6000);
        var refused = Refuse(jpeg);
        Assert.Equal(ImageRejection.Undecodable, refused.Reason);
        Assert.Contains("cannot hold", refused.Message);
    }

    [Fact]
    public void An_rle_bmp_that_ends_before_its_last_row_is_refused()
    {
        var bmp = Seed("rle8.bmp");
        int offset = BinaryPrimitives.ReadInt32LittleEndian(bmp.AsSpan(10));
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), 500); // 16 rows of data, 500 declared
        Assert.Contains("ends at row 15 of 500", Refuse(bmp).Message);
        bmp[offset] = 0; bmp[offset + 1] = 1; // end of bitmap at once
        Assert.Contains("ends at row 0", Refuse(bmp).Message);
        var plain = Seed("rgb24.bmp");
        Assert.Contains("cannot hold", Refuse(plain[..^100]).Message);
    }

    [Fact]
    public void Animation_frames_are_checked_against_the_canvas_and_the_limit()
    {
        var png = Seed("animated.png");
        int fctl = Enumerable.Range(8, png.Length - 12).First(i => png.AsSpan(i, 4).SequenceEqual("fcTL"u8));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(fctl + 8), 5000); // frame width, beyond the 24-pixel canvas
        Assert.Contains("outside", Refuse(png).Message);

        var webp = Seed("animated.webp");
        int anmf = Enumerable.Range(12, webp.Length - 16).First(i => webp.AsSpan(i, 4).SequenceEqual("ANMF"u8));
        webp[anmf + 8 + 6] = 0xFF; webp[anmf + 8 + 7] = 0xFF; webp[anmf + 8 + 8] = 0x0F; // frame width 1,048,576
        Assert.Contains("outside", Refuse(webp).Message);
        webp[anmf + 8 + 9] = 0xFF; webp[anmf + 8 + 10] = 0xFF; webp[anmf + 8 + 11] = 0x0F; // and as high
        Assert.Equal(ImageRejection.TooManyPixels, Refuse(webp).Reason);
    }

    [Theory]
    [InlineData("baseline.jpg")]
    [InlineData("progressive.jpg")]
    [InlineData("rotated.jpg")]
    [InlineData("interlaced.png")]
    [InlineData("animated.png")]
    [InlineData("animated.gif")]
    [InlineData("animated.webp")]
    [InlineData("alpha.webp")]
    [InlineData("rle4.bmp")]
    [InlineData("rle8.bmp")]
    [InlineData("mono.bmp")]
    public void Valid_seed_images_of_every_variant_decode(string name)
    {
        ImagePreprocessor.Preprocess(Seed(name), PreprocessOptions.ImageNet(), Tensor);
        Assert.Contains(Tensor, v => v != 0);
    }
}
