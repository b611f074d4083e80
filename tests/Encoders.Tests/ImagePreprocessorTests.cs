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

    /// <summary>Inserts an EXIF APP1 segment carrying only an orientation tag right after the JPEG SOI marker.</summary>
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
        var bytes = format == SKEncodedImageFormat.Jpeg ? LeftRedRightBlue(300, 200) : Encode(SKBitmap.Decode(LeftRedRightBlue(300, 200)), format);
        var t = new float[PreprocessOptions.ImageNet().TensorLength];
        ImagePreprocessor.Preprocess(bytes, PreprocessOptions.ImageNet(), t);
        Assert.Contains(t, v => v != 0);
    }

    [Fact]
    public void Refused_inputs_say_why()
    {
        var jpeg = File.ReadAllBytes(Directory.GetFiles(TestPaths.Image("clothing/images/Dress")).Order().First());
        var t = new float[PreprocessOptions.ImageNet().TensorLength];
        var truncated = Assert.Throws<ImageRejectedException>(() => ImagePreprocessor.Preprocess(jpeg[..(jpeg.Length / 2)], PreprocessOptions.ImageNet(), t));
        Assert.Equal(ImageRejection.Undecodable, truncated.Reason);
        Assert.Equal(ImageRejection.UnsupportedFormat, Assert.Throws<ImageRejectedException>(() => ImagePreprocessor.ReadHeader("%PDF-1.4"u8)).Reason);
        Assert.Equal(ImageRejection.Undecodable, Assert.Throws<ImageRejectedException>(() => ImagePreprocessor.ReadHeader("GIF89a"u8.ToArray().Concat(new byte[10]).ToArray())).Reason);
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
